import { expectShape } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { kernel } from './kernel.js';
import { lastAxis } from './row-shapes.js';

/** LayerNorm over the last axis with the biased variance, as PyTorch. */
export const layerNorm = kernel<{ eps: number }>({
  name: 'layerNorm',
  shapes: ([x, weight, bias]) => {
    const width = lastAxis('layerNorm', x);
    expectShape('layerNorm: weight', weight, [width]);
    expectShape('layerNorm: bias', bias, [width]);
    return [[...x]];
  },
  run: ([x, weight, bias], { eps }) => {
    const { mean, variance } = tf.moments(x, -1, true);
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
    return [tf.add(tf.mul(normed, weight), bias)];
  },
});
