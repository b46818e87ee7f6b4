import { formatShape, ShapeError } from '../../errors.js';
import { assertFinite, Tensor } from '../../tensor/tensor.js';

/** Symmetric eigendecomposition in float64: values ascending, eigenvectors as the columns of `vectors`. */
export interface EighF64Result {
  /** The n eigenvalues, ascending. */
  values: Float64Array;
  /** n×n row-major; column j is the unit eigenvector of values[j]. */
  vectors: Float64Array;
}

/**
 * Symmetric eigendecomposition in float64 of the n×n row-major `a` (only its lower triangle is read):
 * Householder tridiagonalisation then implicit QL (EISPACK tred2/tql2, as in JAMA).
 */
export function eighF64(a: Float64Array, n: number): EighF64Result {
  if (a.length < n * n)
    throw new ShapeError(`eighF64: a has ${a.length} entries, expected at least ${n}×${n}`);
  // JAMA indexes V[row][col] and its inner loops run down columns. We keep Vᵀ instead (V[i][j] lives at
  // T[j·n + i]) so that every inner loop of both phases walks contiguous memory, and tql2's rotations of
  // eigenvector columns become rotations of rows. The input is symmetric, so its Vᵀ is itself.
  const T = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = a[i * n + j];
      T[i * n + j] = v;
      T[j * n + i] = v;
    }
  }
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n > 0) {
    tridiagonalize(n, T, d, e);
    diagonalizeTridiagonal(n, T, d, e);
  }

  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[x] - d[y] || x - y);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let col = 0; col < n; col++) {
    const src = order[col];
    values[col] = d[src];
    const row = src * n;
    const sign = T[row + largestMagnitudeIndex(T, row, 1, n)] < 0 ? -1 : 1;
    for (let k = 0; k < n; k++) vectors[k * n + col] = sign * T[row + k];
  }
  return { values, vectors };
}

/** Symmetric eigendecomposition of A [n, n] (lower triangle read): values ascending, vectors as columns. */
export function eigh(A: Tensor): { values: Tensor; vectors: Tensor } {
  if (A.rank !== 2 || A.shape[0] !== A.shape[1]) {
    throw new ShapeError(`eigh: A has shape ${formatShape(A.shape)}, expected [n,n]`);
  }
  assertFinite('eigh: A', A.data);
  const n = A.shape[0];
  const { values, vectors } = eighF64(Float64Array.from(A.data), n);
  return {
    values: new Tensor([n], Float32Array.from(values)),
    vectors: new Tensor([n, n], Float32Array.from(vectors)),
  };
}

/**
 * Index (0…length-1) of the entry of `data[offset + i·stride]` with the largest magnitude, first on ties. The
 * sign convention that uses it is "largest-magnitude entry positive": magnitudes are compared after rounding
 * to float32 so that the rule can be checked exactly on float32 results, and so that float64 noise between
 * entries that are equal in exact arithmetic (±1/√2, say) cannot decide the sign.
 */
export function largestMagnitudeIndex(
  data: Float64Array,
  offset: number,
  stride: number,
  length: number,
): number {
  let best = 0;
  let bestMagnitude = -1;
  for (let i = 0; i < length; i++) {
    const magnitude = Math.fround(Math.abs(data[offset + i * stride]));
    if (magnitude > bestMagnitude) {
      bestMagnitude = magnitude;
      best = i;
    }
  }
  return best;
}

/**
 * tred2: Householder reduction to tridiagonal form. T holds Vᵀ of the symmetric input and ends as Vᵀ of the
 * accumulated orthogonal transform; d gets the diagonal, e the subdiagonal (e[i] couples i-1 and i).
 */
function tridiagonalize(n: number, T: Float64Array, d: Float64Array, e: Float64Array): void {
  const last = n - 1;
  for (let j = 0; j < n; j++) d[j] = T[j * n + last];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = T[j * n + i - 1];
        T[j * n + i] = 0;
        T[i * n + j] = 0;
      }
    } else {
      // scaling keeps the Householder vector's squared norm clear of overflow and underflow
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        T[i * n + j] = f;
        const col = j * n;
        g = e[j] + T[col + j] * f;
        for (let k = j + 1; k < i; k++) {
          const v = T[col + k];
          g += v * d[k];
          e[k] += v * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        const col = j * n;
        for (let k = j; k < i; k++) T[col + k] -= f * e[k] + g * d[k];
        d[j] = T[col + i - 1];
        T[col + i] = 0;
      }
    }
    d[i] = h;
  }

  // accumulate the transforms
  for (let i = 0; i < n - 1; i++) {
    T[i * n + last] = T[i * n + i];
    T[i * n + i] = 1;
    const h = d[i + 1];
    const next = (i + 1) * n;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = T[next + k] / h;
      for (let j = 0; j <= i; j++) {
        const col = j * n;
        let g = 0;
        for (let k = 0; k <= i; k++) g += T[next + k] * T[col + k];
        for (let k = 0; k <= i; k++) T[col + k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) T[next + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = T[j * n + last];
    T[j * n + last] = 0;
  }
  T[last * n + last] = 1;
  e[0] = 0;
}

/**
 * tql2: implicit QL with Wilkinson-like shifts on the tridiagonal (d, e). The rows of T (eigenvectors) are
 * rotated along; d ends as the unsorted eigenvalues.
 */
function diagonalizeTridiagonal(n: number, T: Float64Array, d: Float64Array, e: Float64Array): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  const eps = 2 ** -52;
  let shift = 0;
  let norm = 0;
  for (let l = 0; l < n; l++) {
    norm = Math.max(norm, Math.abs(d[l]) + Math.abs(e[l]));
    // the first negligible subdiagonal entry at or after l splits off the block l…m
    let m = l;
    while (m < n - 1 && Math.abs(e[m]) > eps * norm) m++;
    if (m > l) {
      let iterations = 0;
      do {
        // real inputs converge in a handful of sweeps; the bound only guards against NaN-like loops
        if (++iterations > 100) throw new Error(`eigh: QL iteration did not converge for eigenvalue ${l}`);
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        shift += h;

        p = d[m];
        let c = 1;
        let c2 = 1;
        let c3 = 1;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          const rowI = i * n;
          const rowNext = rowI + n;
          for (let k = 0; k < n; k++) {
            const x = T[rowI + k];
            const y = T[rowNext + k];
            T[rowNext + k] = s * x + c * y;
            T[rowI + k] = c * x - s * y;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * norm);
    }
    d[l] += shift;
    e[l] = 0;
  }
}
