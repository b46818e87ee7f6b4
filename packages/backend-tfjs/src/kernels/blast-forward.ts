import type { BlastForwardOptions } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { kernel } from './kernel.js';
import { matMul } from './mat-mul.js';
import { blastDims, expectRows } from './structured-shapes.js';

/**
 * The BLAST layer (method.md §1) as three batched matMuls, never forming the dense A nor the b×b×N×r
 * coupling tensor:
 *   1. zᵀ_j = V_jᵀ x_jᵀ              one batched matMul over the b blocks → [b, r, N]
 *   2. w_i = Σ_j s_ij ⊙ z_j            for each rank index k this is the b×b matrix S_k = D[:, :, k] times the
 *                                      stacked z_j[k]: one batched matMul with r batches of (b×b)·(b×N)
 *   3. y_i = w_i U_iᵀ                  one batched matMul over the blocks → [b, N, p], then back to [N, m]
 * Work: r·(n + m)·N + b²·r·N multiply-adds, as the reference. Between the products the first two axes of
 * x, z, w and y swap (block-major for the batched matMuls, row-major outside): four copies of size N·n,
 * N·r·b (twice) and N·m, the price of tfjs having no strided matMul operands.
 * With `transpose` (Aᵀ) the roles of B and C swap and D is read as s_ji.
 */
export const blastForward = kernel<BlastForwardOptions>({
  name: 'blastForward',
  shapes: ([x, B, C, D], options) => {
    const { m, n } = blastDims(B, C, D);
    const transpose = options.transpose ?? false;
    const N = expectRows(`blastForward${transpose ? ' (transposed)' : ''}`, x, transpose ? m : n);
    return [[N, transpose ? n : m]];
  },
  run: ([x, B, C, D], options) => {
    const transpose = options.transpose ?? false;
    const [b, p] = B.shape as number[];
    const q = (C.shape as number[])[2];
    const N = x.shape[0] as number;
    const inBlock = transpose ? p : q;
    const outBlock = transpose ? q : p;
    // x [N, b·inBlock] → blocks [b, N, inBlock]
    const xb = tf.transpose(tf.reshape(x, [N, b, inBlock]), [1, 0, 2]);
    // 1. zᵀ_j [r, N]: C_j [r, q] · x_jᵀ, or for Aᵀ: U_iᵀ x_iᵀ = B_iᵀ [r, p] · x_iᵀ
    const zT = transpose ? matMul(B, xb, true, true) : matMul(C, xb, false, true);
    // 2. per rank index k: w[:, k, :] = S_k · z[:, k, :], S_k[i, j] = s_ij[k] (Aᵀ: s_ji[k])
    const S = tf.transpose(D, transpose ? [2, 1, 0] : [2, 0, 1]);
    const w = matMul(S, tf.transpose(zT, [1, 0, 2]));
    const wT = tf.transpose(w, [1, 0, 2]); // [b, r, N]
    // 3. y_i [N, outBlock] = w_i · U_iᵀ = w_iᵀᵀ · B_iᵀ, or for Aᵀ: w_j · V_jᵀ = w_jᵀᵀ · C_j
    const yb = transpose ? matMul(wT, C, true, false) : matMul(wT, B, true, true);
    return [tf.reshape(tf.transpose(yb, [1, 0, 2]), [N, b * outBlock])];
  },
});
