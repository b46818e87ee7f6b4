import * as tf from '@tensorflow/tfjs-core';
import { kernel } from './kernel.js';

/** a·alpha + beta. */
export const scale = kernel<{ alpha: number; beta: number }>({
  name: 'scale',
  shapes: ([a]) => [[...a]],
  run: ([a], { alpha, beta }) => {
    const scaled = alpha === 1 ? a : tf.mul(a, tf.scalar(alpha));
    return [beta === 0 ? tf.clone(scaled) : tf.add(scaled, tf.scalar(beta))];
  },
});
