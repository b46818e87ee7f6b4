import {
  cpuKernels,
  formatShape,
  InvalidArgumentError,
  relativeFrobeniusError,
  ShapeError,
  Tensor,
} from '@blastkit/core';
import { validateBlastShape, validateTarget } from '../validate.js';
import { type BlastFastOptions, blastFast } from './fast.js';
import type { BlastFactorization } from './precgd.js';

export interface DataAwareOptions extends BlastFastOptions {
  /** Calibration inputs X [N, n] (rows are the layer's input vectors). */
  inputs: Tensor;
  /** Eigenvalues of each input-covariance block below this fraction of its largest are clamped (default 1e-6). */
  floor?: number;
}

export interface DataAwareFactorization extends BlastFactorization {
  /** ‖(A − Â)Xᵀ‖_F / ‖A·Xᵀ‖_F on the calibration inputs: the error the layer's outputs see. */
  outputError: number;
}

/**
 * Data-aware BLAST: minimises the error of the layer's outputs on calibration inputs, ‖(A − Â)Xᵀ‖_F, instead of
 * ‖A − Â‖_F, using the block-diagonal part of the input covariance Σ = XᵀX/N. With Σ_jj = L_j L_jᵀ, a column
 * block's error ‖(A − Â)_{:,j} L_j‖ is a plain Frobenius error of BLAST factors whose V-side is C_j·L_j, so the
 * target A·diag(L_j) is factorized with the fast solver and C_j = C′_j·L_j⁻¹ maps the result back — exact for
 * the block-diagonal weighting; covariance across column blocks is ignored (it would break the structure).
 */
export async function blastDataAware(A: Tensor, options: DataAwareOptions): Promise<DataAwareFactorization> {
  const [m, n] = validateTarget(A);
  const { numBlocks: b, inputs: X } = options;
  validateBlastShape(m, n, b, options.rank);
  if (X.rank !== 2 || X.shape[1] !== n)
    throw new ShapeError(`data-aware BLAST: inputs have shape ${formatShape(X.shape)}, expected [N,${n}]`);
  validateTarget(X, 'data-aware BLAST: inputs');
  if (X.shape[0] < 1)
    throw new InvalidArgumentError('data-aware BLAST: needs at least one calibration input');
  const q = n / b;
  const floor = options.floor ?? 1e-6;
  const N = X.shape[0];

  // per column block j: Σ_jj = Q Λ Qᵀ, L_j = Q Λ^½ (L_j L_jᵀ = Σ_jj), L_j⁻¹ = Λ^-½ Qᵀ
  const L: Tensor[] = [];
  const Linv: Tensor[] = [];
  for (let j = 0; j < b; j++) {
    const Xj = cpuKernels.slice(X, [0, j * q], [N, q]);
    const cov = cpuKernels.scale(cpuKernels.matmul(Xj, Xj, { transposeA: true }), 1 / N);
    const { values, vectors } = cpuKernels.eigh(cov);
    const top = Math.max(values.data[q - 1], 0);
    if (!(top > 0))
      throw new InvalidArgumentError(
        `data-aware BLAST: the calibration inputs are all zero on input block ${j}`,
      );
    const Lj = new Tensor([q, q]);
    const Lij = new Tensor([q, q]);
    for (let k = 0; k < q; k++) {
      const lambda = Math.max(values.data[k], floor * top);
      const root = Math.sqrt(lambda);
      for (let row = 0; row < q; row++) {
        Lj.data[row * q + k] = vectors.data[row * q + k] * root;
        Lij.data[k * q + row] = vectors.data[row * q + k] / root;
      }
    }
    L.push(Lj);
    Linv.push(Lij);
  }
  const weighted = new Tensor([m, n]);
  for (let j = 0; j < b; j++) {
    const block = cpuKernels.matmul(cpuKernels.slice(A, [0, j * q], [m, q]), L[j]);
    for (let row = 0; row < m; row++)
      weighted.data.set(block.data.subarray(row * q, (row + 1) * q), row * n + j * q);
  }
  const fit = await blastFast(weighted, options);
  const { C } = fit.matrix;
  const r = fit.matrix.rank;
  for (let j = 0; j < b; j++) {
    const Cj = new Tensor([r, q], C.data.subarray(j * r * q, (j + 1) * r * q));
    C.data.set(cpuKernels.matmul(Cj, Linv[j]).data, j * r * q);
  }
  const approx = fit.matrix.toDense();
  const outputError = outputErrorOf(approx, A, X);
  // C was mapped back in place, so fit.matrix is the final factorization; fit.history tracks the weighted error
  return { ...fit, relativeError: relativeFrobeniusError(approx, A), outputError };
}

/** ‖(Â − A)·Xᵀ‖_F / ‖A·Xᵀ‖_F: the relative error of a layer's outputs on inputs X. */
export function outputErrorOf(approx: Tensor, A: Tensor, X: Tensor): number {
  return relativeFrobeniusError(cpuKernels.linear(X, approx), cpuKernels.linear(X, A));
}
