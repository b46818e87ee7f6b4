import { BlastMatrix, type Tensor } from '@blastkit/core';

/**
 * Final form of solver output, as the reference leaves it: s scaled back by σ (the solvers work on A/σ),
 * then every column k of U_i and V_j normalized to unit length with the norms moved into s_ij[k].
 * Zero columns are left as they are.
 */
export function finishFactors(B: Tensor, C: Tensor, D: Tensor, sigma: number): BlastMatrix {
  const [b, p, r] = B.shape;
  const q = C.shape[2];
  const uNorm = new Float64Array(b * r);
  const vNorm = new Float64Array(b * r);
  for (let i = 0; i < b; i++) {
    for (let k = 0; k < r; k++) {
      let su = 0;
      for (let row = 0; row < p; row++) su += B.data[(i * p + row) * r + k] ** 2;
      let sv = 0;
      for (let col = 0; col < q; col++) sv += C.data[(i * r + k) * q + col] ** 2;
      uNorm[i * r + k] = Math.sqrt(su) || 1;
      vNorm[i * r + k] = Math.sqrt(sv) || 1;
    }
  }
  for (let i = 0; i < b; i++) {
    for (let k = 0; k < r; k++) {
      for (let row = 0; row < p; row++) B.data[(i * p + row) * r + k] /= uNorm[i * r + k];
      for (let col = 0; col < q; col++) C.data[(i * r + k) * q + col] /= vNorm[i * r + k];
    }
  }
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < b; j++) {
      for (let k = 0; k < r; k++) D.data[(i * b + j) * r + k] *= sigma * uNorm[i * r + k] * vNorm[j * r + k];
    }
  }
  return new BlastMatrix(B, C, D);
}
