import { InvalidArgumentError } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { kernel } from './kernel.js';
import { lastAxis } from './row-shapes.js';

/** Index of the largest entry along the last axis, as float32 (tfjs' argMax returns the first on ties). */
export const argmax = kernel({
  name: 'argmax',
  shapes: ([x]) => {
    if (lastAxis('argmax', x) === 0) throw new InvalidArgumentError('argmax: empty last axis');
    return [x.slice(0, -1)];
  },
  run: ([x]) => [tf.cast(tf.argMax(x, -1), 'float32')],
});
