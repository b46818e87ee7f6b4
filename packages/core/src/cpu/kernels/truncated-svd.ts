import { formatShape, InvalidArgumentError, ShapeError } from '../../errors.js';
import { assertFinite, Tensor } from '../../tensor/tensor.js';
import { eighF64, largestMagnitudeIndex } from './eigh.js';

/** Singular values at or below this fraction of σ_max carry no usable direction: their vectors are completed. */
const NEGLIGIBLE_SINGULAR_VALUE = 1e-12;

/**
 * The k leading singular triplets of A [m, n] (1 ≤ k ≤ min(m, n)): A ≈ U diag(S) Vᵀ with U [m, k], S [k]
 * descending, V [n, k], each triplet signed so the largest-magnitude entry of its V column is positive.
 */
export function truncatedSvd(A: Tensor, k: number): { U: Tensor; S: Tensor; V: Tensor } {
  if (A.rank !== 2) throw new ShapeError(`truncatedSvd: A has shape ${formatShape(A.shape)}, expected [m,n]`);
  const [m, n] = A.shape;
  if (!Number.isInteger(k) || k < 1 || k > Math.min(m, n)) {
    throw new InvalidArgumentError(
      `truncatedSvd: k = ${k} must be an integer in [1, ${Math.min(m, n)}] for a ${m}×${n} matrix`,
    );
  }
  assertFinite('truncatedSvd: A', A.data);

  // Work with X = A or Aᵀ, whichever has fewer columns (`inner`), so the Gram matrix XᵀX is the small one.
  // X is stored transposed (column c of X contiguous at c·outer) so that Gram entries and X·v are
  // contiguous dot products and axpys.
  const tall = m >= n;
  const outer = tall ? m : n;
  const inner = tall ? n : m;
  const columns = new Float64Array(outer * inner);
  if (tall) {
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) columns[j * m + i] = A.data[i * n + j];
  } else {
    for (let i = 0; i < columns.length; i++) columns[i] = A.data[i];
  }

  const gram = new Float64Array(inner * inner);
  for (let i = 0; i < inner; i++) {
    const ci = i * outer;
    for (let j = 0; j <= i; j++) {
      const cj = j * outer;
      let s = 0;
      for (let r = 0; r < outer; r++) s += columns[ci + r] * columns[cj + r];
      gram[i * inner + j] = s;
    }
  }
  // σ² are the Gram eigenvalues, so σ is accurate to about √(ε)·σ_max ≈ 1e-8·σ_max: ample for float32 output
  const { values, vectors } = eighF64(gram, inner);

  const sigma = new Float64Array(k);
  const innerVectors = new Float64Array(k * inner); // vector t at t·inner
  for (let t = 0; t < k; t++) {
    const src = inner - 1 - t;
    sigma[t] = Math.sqrt(Math.max(values[src], 0));
    for (let i = 0; i < inner; i++) innerVectors[t * inner + i] = vectors[i * inner + src];
  }

  // the other side: X·v (normalised later, which divides by ≈σ), made orthonormal in float64
  const outerVectors = new Float64Array(k * outer); // vector t at t·outer
  const negligible = NEGLIGIBLE_SINGULAR_VALUE * sigma[0];
  let nextUnitVector = 0;
  for (let t = 0; t < k; t++) {
    const y = outerVectors.subarray(t * outer, (t + 1) * outer);
    let recovered = false;
    if (sigma[t] > negligible) {
      for (let i = 0; i < inner; i++) {
        const vi = innerVectors[t * inner + i];
        if (vi === 0) continue;
        const ci = i * outer;
        for (let r = 0; r < outer; r++) y[r] += vi * columns[ci + r];
      }
      recovered = orthonormalizeAgainst(outerVectors, t, y);
    }
    // no usable direction (σ ≈ 0, or X·v fell into the span already found): complete the basis with the
    // first unit vectors e_j that are independent of it, so the result stays deterministic
    for (let tries = 0; !recovered && tries < outer; tries++) {
      y.fill(0);
      y[nextUnitVector] = 1;
      nextUnitVector = (nextUnitVector + 1) % outer;
      recovered = orthonormalizeAgainst(outerVectors, t, y);
    }
  }

  const [uSide, vSide] = tall ? [outerVectors, innerVectors] : [innerVectors, outerVectors];
  const U = new Tensor([m, k]);
  const V = new Tensor([n, k]);
  for (let t = 0; t < k; t++) {
    const sign = vSide[t * n + largestMagnitudeIndex(vSide, t * n, 1, n)] < 0 ? -1 : 1;
    for (let i = 0; i < m; i++) U.data[i * k + t] = sign * uSide[t * m + i];
    for (let i = 0; i < n; i++) V.data[i * k + t] = sign * vSide[t * n + i];
  }
  return { U, S: new Tensor([k], Float32Array.from(sigma)), V };
}

/**
 * Makes y (length len) a unit vector orthogonal to the first `count` vectors of `basis` (each contiguous, of
 * y's length) by modified Gram–Schmidt, repeated while a pass cancels most of y ("twice is enough", Kahan and
 * Parlett). Returns false, leaving y unusable, when y is numerically inside their span.
 */
function orthonormalizeAgainst(basis: Float64Array, count: number, y: Float64Array): boolean {
  const len = y.length;
  let norm = vectorNorm(y);
  for (let pass = 0; pass < 4 && norm > 0; pass++) {
    for (let b = 0; b < count; b++) {
      const off = b * len;
      let dot = 0;
      for (let i = 0; i < len; i++) dot += basis[off + i] * y[i];
      for (let i = 0; i < len; i++) y[i] -= dot * basis[off + i];
    }
    const before = norm;
    norm = vectorNorm(y);
    if (norm > 0.5 * before) {
      const inv = 1 / norm;
      for (let i = 0; i < len; i++) y[i] *= inv;
      return true;
    }
  }
  return false;
}

function vectorNorm(y: Float64Array): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * y[i];
  return Math.sqrt(s);
}
