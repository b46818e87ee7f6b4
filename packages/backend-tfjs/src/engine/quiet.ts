import * as tf from '@tensorflow/tfjs-core';

/**
 * Runs `load` with tfjs' warnings off (its PROD flag; warnings are all it changes in tfjs-core 4.22). Loading
 * a second copy of a tfjs backend package — tfjs-node brings its own tfjs-core and tfjs-backend-cpu — re-registers
 * every kernel, gradient and the 'cpu' backend, and each re-registration prints a line: hundreds of them.
 */
export async function withTfjsWarningsOff<T>(load: () => T | Promise<T>): Promise<T> {
  const env = tf.env();
  const prod = env.getBool('PROD');
  env.set('PROD', true);
  try {
    return await load();
  } finally {
    env.set('PROD', prod);
  }
}
