import { expectShape } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { kernel } from './kernel.js';
import { matMul } from './mat-mul.js';

/**
 * x [N, n] · weightᵀ (+ bias). Not tf.fused.matMul: tfjs-backend-wasm 4.22's fused kernel returns wrong
 * values with transposeB and a bias (off by up to 15 on the conformance suite's stories15M-shaped case), and
 * the separate add costs one pass over the [N, m] output.
 */
export const linear = kernel({
  name: 'linear',
  shapes: ([x, weight, bias]) => {
    expectShape('linear: weight', weight, [-1, -1]);
    const [m, n] = weight;
    expectShape('linear: x', x, [-1, n]);
    if (bias) expectShape('linear: bias', bias, [m]);
    return [[x[0], m]];
  },
  run: ([x, weight, bias]) => {
    const y = matMul(x, weight, false, true);
    return [bias ? tf.add(y, bias) : y];
  },
});
