import { formatShape, ShapeError } from '../../errors.js';
import { Tensor } from '../../tensor/tensor.js';

/**
 * Symmetric eigendecomposition in float64: Householder tridiagonalisation then the implicit QL method
 * (EISPACK tred2/tql2, as in JAMA). `a` is n×n row-major; only its lower triangle is read. Values come back
 * ascending, eigenvectors as the columns of `vectors` (n×n row-major), each flipped so that its
 * largest-magnitude entry is positive — a convention every backend shares so results compare directly.
 */
export function eighF64(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      V[i * n + j] = a[i * n + j];
      V[j * n + i] = a[i * n + j];
    }
  }
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return { values: d, vectors: V };
  tred2(n, V, d, e);
  // QL rotations touch pairs of eigenvector columns; with the vectors as rows they touch contiguous memory
  const W = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) W[i * n + k] = V[k * n + i];
  tql2(n, W, d, e);
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[x] - d[y] || x - y);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, col) => {
    values[col] = d[src];
    let best = 0;
    for (let k = 1; k < n; k++) if (Math.abs(W[src * n + k]) > Math.abs(W[src * n + best]) + 1e-15) best = k;
    const sign = W[src * n + best] < 0 ? -1 : 1;
    for (let k = 0; k < n; k++) vectors[k * n + col] = sign * W[src * n + k];
  });
  return { values, vectors };
}

/** Symmetric eigendecomposition of A [n, n] (lower triangle read): values ascending, vectors as columns. */
export function eigh(A: Tensor): { values: Tensor; vectors: Tensor } {
  if (A.rank !== 2 || A.shape[0] !== A.shape[1])
    throw new ShapeError(`eigh: A has shape ${formatShape(A.shape)}, expected [n,n]`);
  const n = A.shape[0];
  for (let i = 0; i < A.size; i++) {
    if (!Number.isFinite(A.data[i]))
      throw new RangeError(`eigh: entry ${i} of A is ${A.data[i]}; expected finite values`);
  }
  const { values, vectors } = eighF64(Float64Array.from(A.data), n);
  return {
    values: new Tensor([n], Float32Array.from(values)),
    vectors: new Tensor([n, n], Float32Array.from(vectors)),
  };
}

/** Householder reduction of the symmetric V to tridiagonal form; V becomes the accumulated transform. */
function tred2(n: number, V: Float64Array, d: Float64Array, e: Float64Array): void {
  for (let j = 0; j < n; j++) d[j] = V[(n - 1) * n + j];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = V[(i - 1) * n + j];
        V[i * n + j] = 0;
        V[j * n + i] = 0;
      }
    } else {
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
        V[j * n + i] = f;
        g = e[j] + V[j * n + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[k * n + j] * d[k];
          e[k] += V[k * n + j] * f;
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
        for (let k = j; k <= i - 1; k++) V[k * n + j] -= f * e[k] + g * d[k];
        d[j] = V[(i - 1) * n + j];
        V[i * n + j] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    V[(n - 1) * n + i] = V[i * n + i];
    V[i * n + i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[k * n + i + 1] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[k * n + i + 1] * V[k * n + j];
        for (let k = 0; k <= i; k++) V[k * n + j] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) V[k * n + i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[(n - 1) * n + j];
    V[(n - 1) * n + j] = 0;
  }
  V[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

/** Implicit QL on the tridiagonal (d, e); W holds the eigenvectors as rows and is rotated along. */
function tql2(n: number, W: Float64Array, d: Float64Array, e: Float64Array): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      let iterations = 0;
      do {
        if (++iterations > 60 * n) throw new Error('eigh: QL iteration did not converge');
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
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
          const rowI1 = rowI + n;
          for (let k = 0; k < n; k++) {
            const hk = W[rowI1 + k];
            W[rowI1 + k] = s * W[rowI + k] + c * hk;
            W[rowI + k] = c * W[rowI + k] - s * hk;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}
