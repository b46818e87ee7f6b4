import { formatShape, InvalidArgumentError, ShapeError } from '../../errors.js';
import { Tensor } from '../../tensor/tensor.js';
import { eighF64 } from './eigh.js';

/**
 * The k leading singular triplets of A [m, n]: A ≈ U diag(S) Vᵀ, S descending. Computed from the float64 Gram
 * matrix of the smaller side (so σ is accurate to ~1e-8·σ_max), the other side recovered as A·v/σ and
 * re-orthonormalised in float64. Each triplet is signed so the largest-magnitude entry of its V column is
 * positive.
 */
export function truncatedSvd(A: Tensor, k: number): { U: Tensor; S: Tensor; V: Tensor } {
  if (A.rank !== 2) throw new ShapeError(`truncatedSvd: A has shape ${formatShape(A.shape)}, expected [m,n]`);
  const [m, n] = A.shape;
  if (!Number.isInteger(k) || k < 1 || k > Math.min(m, n)) {
    throw new InvalidArgumentError(
      `truncatedSvd: k = ${k} must be an integer in [1, ${Math.min(m, n)}] for a ${m}×${n} matrix`,
    );
  }
  for (let i = 0; i < A.size; i++) {
    if (!Number.isFinite(A.data[i]))
      throw new RangeError(`truncatedSvd: entry ${i} of A is ${A.data[i]}; expected finite values`);
  }
  // work on the orientation with the smaller Gram matrix: X [rows, cols] with cols ≤ rows
  const wide = n > m;
  const rows = wide ? n : m;
  const cols = wide ? m : n;
  const X = new Float64Array(rows * cols);
  if (wide) {
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) X[j * cols + i] = A.data[i * n + j];
  } else {
    for (let i = 0; i < X.length; i++) X[i] = A.data[i];
  }
  const G = new Float64Array(cols * cols);
  for (let r = 0; r < rows; r++) {
    const off = r * cols;
    for (let i = 0; i < cols; i++) {
      const xi = X[off + i];
      if (xi === 0) continue;
      const gi = i * cols;
      for (let j = 0; j <= i; j++) G[gi + j] += xi * X[off + j];
    }
  }
  const { values, vectors } = eighF64(G, cols);
  const sigma = new Float64Array(k);
  const right = new Float64Array(cols * k); // eigenvectors of XᵀX: right singular vectors of X
  for (let t = 0; t < k; t++) {
    const src = cols - 1 - t;
    sigma[t] = Math.sqrt(Math.max(values[src], 0));
    for (let i = 0; i < cols; i++) right[i * k + t] = vectors[i * cols + src];
  }
  // left vectors: X·v/σ, then modified Gram–Schmidt (twice, for float64 orthogonality even when σ is small)
  const left = new Float64Array(rows * k);
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < k; t++) {
      let s = 0;
      for (let i = 0; i < cols; i++) s += X[r * cols + i] * right[i * k + t];
      left[r * k + t] = s;
    }
  }
  const tiny = 1e-12 * (sigma[0] || 1);
  let nextBasis = 0;
  for (let t = 0; t < k; t++) {
    if (sigma[t] <= tiny) {
      // no direction to recover: complete the basis deterministically with unit vectors
      for (let r = 0; r < rows; r++) left[r * k + t] = 0;
      left[(nextBasis++ % rows) * k + t] = 1;
    }
    for (let pass = 0; pass < 2; pass++) {
      for (let u = 0; u < t; u++) {
        let dot = 0;
        for (let r = 0; r < rows; r++) dot += left[r * k + u] * left[r * k + t];
        for (let r = 0; r < rows; r++) left[r * k + t] -= dot * left[r * k + u];
      }
      let norm = 0;
      for (let r = 0; r < rows; r++) norm += left[r * k + t] ** 2;
      norm = Math.sqrt(norm);
      if (norm < 1e-300 && sigma[t] <= tiny) {
        left[(nextBasis++ % rows) * k + t] = 1;
        pass = -1;
        continue;
      }
      for (let r = 0; r < rows; r++) left[r * k + t] /= norm;
    }
  }
  const [uSide, vSide, uRows, vRows] = wide ? [right, left, cols, rows] : [left, right, rows, cols];
  const U = new Tensor([uRows, k]);
  const V = new Tensor([vRows, k]);
  for (let t = 0; t < k; t++) {
    let best = 0;
    for (let i = 1; i < vRows; i++)
      if (Math.abs(vSide[i * k + t]) > Math.abs(vSide[best * k + t]) + 1e-15) best = i;
    const sign = vSide[best * k + t] < 0 ? -1 : 1;
    for (let i = 0; i < uRows; i++) U.data[i * k + t] = sign * uSide[i * k + t];
    for (let i = 0; i < vRows; i++) V.data[i * k + t] = sign * vSide[i * k + t];
  }
  return { U, S: new Tensor([k], Float32Array.from(sigma)), V };
}
