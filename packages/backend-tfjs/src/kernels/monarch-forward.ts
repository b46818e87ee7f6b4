import { expectShape, formatShape, ShapeError } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { kernel } from './kernel.js';
import { matMul } from './mat-mul.js';
import { expectRows } from './structured-shapes.js';

/**
 * Monarch / block low-rank A = L·P·R: z_j = x_j·R_jᵀ (a batched matMul over the blocks) gives b groups of r′
 * per input block; the permutation P routes group i of z_j to output block i (one transpose of the
 * [b, N, b, r′] view); then y_i = g_i·L_iᵀ (a batched matMul).
 */
export const monarchForward = kernel({
  name: 'monarchForward',
  shapes: ([x, L, R]) => {
    if (L.length !== 3)
      throw new ShapeError(`monarchForward: L has shape ${formatShape(L)}, expected [b,m/b,b·r′]`);
    const [b, p, br] = L;
    if (br % b !== 0)
      throw new ShapeError(`monarchForward: L's last axis (${br}) must be a multiple of b=${b}`);
    expectShape('monarchForward: R', R, [b, br, -1]);
    const N = expectRows('monarchForward', x, b * R[2]);
    return [[N, b * p]];
  },
  run: ([x, L, R]) => {
    const [b, p, br] = L.shape as number[];
    const q = (R.shape as number[])[2];
    const N = x.shape[0] as number;
    const xb = tf.transpose(tf.reshape(x, [N, b, q]), [1, 0, 2]);
    const z = matMul(xb, R, false, true); // [b(j), N, b(i)·r′]
    // g[i, t, j, :] = z[j, t, i, :]
    const g = tf.reshape(tf.transpose(tf.reshape(z, [b, N, b, br / b]), [2, 1, 0, 3]), [b, N, br]);
    const yb = matMul(g, L, false, true); // [b, N, p]
    return [tf.reshape(tf.transpose(yb, [1, 0, 2]), [N, b * p])];
  },
});
