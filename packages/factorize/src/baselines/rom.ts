import {
  cpuKernels,
  formatShape,
  InvalidArgumentError,
  LowRankMatrix,
  ShapeError,
  Tensor,
} from '@blastkit/core';
import { validateTarget } from '../validate.js';

export interface RomResult {
  /** W ≈ U·Vᵀ with U = V_r (d_out × r) and V = Wᵀ·V_r (d_in × r): W₂ = V_r, W₁ = V_rᵀ·W. */
  matrix: LowRankMatrix;
  /** The mean compensation (I − V_r V_rᵀ)·ȳ, to add to the layer's output (zeros when disabled). */
  bias: Tensor;
  /** Fraction of the centred output variance on the calibration set that the kept directions explain. */
  explainedVariance: number;
}

/**
 * Reduced-order modelling of one linear layer (LLM-ROM, method.md §5): the layer's outputs Y = X·Wᵀ on
 * calibration inputs X are centred, their covariance eigendecomposed, and W is replaced by its projection on
 * the top-r output principal directions. With `meanCompensation` (default on) the projected-out part of the
 * output mean is kept as a bias — the published code omits it; it costs d_out parameters and never hurts.
 */
export function romFactorize(
  W: Tensor,
  X: Tensor,
  rank: number,
  options: { meanCompensation?: boolean } = {},
): RomResult {
  const [dOut, dIn] = validateTarget(W, 'ROM: weight');
  if (X.rank !== 2 || X.shape[1] !== dIn)
    throw new ShapeError(`ROM: calibration inputs have shape ${formatShape(X.shape)}, expected [N,${dIn}]`);
  validateTarget(X, 'ROM: calibration inputs');
  if (!Number.isInteger(rank) || rank < 1 || rank > dOut) {
    throw new InvalidArgumentError(`ROM: rank ${rank} must be an integer in [1, ${dOut}]`);
  }
  const N = X.shape[0];
  const Y = cpuKernels.linear(X, W); // [N, d_out]
  const mean = new Float64Array(dOut);
  for (let t = 0; t < N; t++) for (let o = 0; o < dOut; o++) mean[o] += Y.data[t * dOut + o] / N;
  const centred = new Tensor([N, dOut]);
  for (let t = 0; t < N; t++)
    for (let o = 0; o < dOut; o++) centred.data[t * dOut + o] = Y.data[t * dOut + o] - mean[o];
  const cov = cpuKernels.matmul(centred, centred, { transposeA: true }); // scale does not change the eigenvectors
  const { values, vectors } = cpuKernels.eigh(cov);
  const Vr = new Tensor([dOut, rank]);
  let kept = 0;
  let total = 0;
  for (let k = 0; k < dOut; k++) total += Math.max(values.data[k], 0);
  for (let k = 0; k < rank; k++) {
    const src = dOut - 1 - k; // eigenvalues ascend
    kept += Math.max(values.data[src], 0);
    for (let o = 0; o < dOut; o++) Vr.data[o * rank + k] = vectors.data[o * dOut + src];
  }
  const V = cpuKernels.matmul(W, Vr, { transposeA: true }); // Wᵀ·V_r [d_in, r]
  const bias = new Tensor([dOut]);
  if (options.meanCompensation ?? true) {
    const meanT = new Tensor([1, dOut], Float32Array.from(mean));
    const coeff = cpuKernels.matmul(meanT, Vr); // ȳᵀ V_r
    const projected = cpuKernels.matmul(coeff, Vr, { transposeB: true }); // V_r V_rᵀ ȳ
    for (let o = 0; o < dOut; o++) bias.data[o] = mean[o] - projected.data[o];
  }
  return { matrix: new LowRankMatrix(Vr, V), bias, explainedVariance: total > 0 ? kept / total : 1 };
}
