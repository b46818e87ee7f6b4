import { expectShape } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { kernel } from './kernel.js';
import { lastAxis } from './row-shapes.js';

/** Llama's RMSNorm over the last axis: x · (mean(x²) + eps)^-½ · weight. */
export const rmsNorm = kernel<{ eps: number }>({
  name: 'rmsNorm',
  shapes: ([x, weight]) => {
    expectShape('rmsNorm: weight', weight, [lastAxis('rmsNorm', x)]);
    return [[...x]];
  },
  run: ([x, weight], { eps }) => {
    const inv = tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps));
    return [tf.mul(tf.mul(x, inv), weight)];
  },
});
