import { formatShape, NotPositiveDefiniteError, ShapeError } from '../../errors.js';
import { Tensor } from '../../tensor/tensor.js';

let work = new Float64Array(0);

/**
 * In-place Cholesky factor of the r×r matrix at `a[off…]` (lower triangle read, L written there).
 * Returns the index of the first non-positive pivot, or -1 on success.
 */
export function choleskyFactorInPlace(a: Float64Array, off: number, r: number): number {
  for (let j = 0; j < r; j++) {
    let d = a[off + j * r + j];
    for (let k = 0; k < j; k++) d -= a[off + j * r + k] * a[off + j * r + k];
    if (!(d > 0) || !Number.isFinite(d)) return j;
    const ljj = Math.sqrt(d);
    a[off + j * r + j] = ljj;
    for (let i = j + 1; i < r; i++) {
      let s = a[off + i * r + j];
      for (let k = 0; k < j; k++) s -= a[off + i * r + k] * a[off + j * r + k];
      a[off + i * r + j] = s / ljj;
    }
  }
  return -1;
}

/**
 * Solves A_k X_k = B_k for a batch of SPD systems by Cholesky in float64: A [batch, r, r] (lower triangle
 * read), B [batch, r, c] → X [batch, r, c]; 2-D A [r, r] with B [r, c] also works.
 */
export function choleskySolve(A: Tensor, B: Tensor): Tensor {
  const batched = A.rank === 3;
  if (A.rank !== 2 && A.rank !== 3) {
    throw new ShapeError(`choleskySolve: A has shape ${formatShape(A.shape)}, expected [batch,r,r] or [r,r]`);
  }
  const batch = batched ? A.shape[0] : 1;
  const r = A.shape[A.rank - 1];
  if (A.shape[A.rank - 2] !== r)
    throw new ShapeError(`choleskySolve: A has shape ${formatShape(A.shape)}, expected square systems`);
  if (B.rank !== A.rank || (batched && B.shape[0] !== batch) || B.shape[B.rank - 2] !== r) {
    const want = batched ? `[${batch},${r},*]` : `[${r},*]`;
    throw new ShapeError(`choleskySolve: B has shape ${formatShape(B.shape)}, expected ${want}`);
  }
  const c = B.shape[B.rank - 1];
  if (work.length < r * r + r * c) work = new Float64Array(r * r + r * c);
  const X = new Tensor(B.shape);
  for (let t = 0; t < batch; t++) {
    const aOff = t * r * r;
    for (let i = 0; i < r * r; i++) work[i] = A.data[aOff + i];
    const bad = choleskyFactorInPlace(work, 0, r);
    if (bad >= 0) {
      throw new NotPositiveDefiniteError(
        `choleskySolve: system ${t} is not positive definite (pivot ${bad} is ${work[bad * r + bad]} after elimination)`,
      );
    }
    const y = r * r; // right-hand sides live after the factor in the work buffer
    for (let i = 0; i < r * c; i++) work[y + i] = B.data[t * r * c + i];
    // L·Y = B, then Lᵀ·X = Y, all right-hand sides together (row-wise for contiguous access)
    for (let i = 0; i < r; i++) {
      for (let k = 0; k < i; k++) {
        const l = work[i * r + k];
        if (l !== 0) for (let j = 0; j < c; j++) work[y + i * c + j] -= l * work[y + k * c + j];
      }
      const inv = 1 / work[i * r + i];
      for (let j = 0; j < c; j++) work[y + i * c + j] *= inv;
    }
    for (let i = r - 1; i >= 0; i--) {
      for (let k = i + 1; k < r; k++) {
        const l = work[k * r + i];
        if (l !== 0) for (let j = 0; j < c; j++) work[y + i * c + j] -= l * work[y + k * c + j];
      }
      const inv = 1 / work[i * r + i];
      for (let j = 0; j < c; j++) work[y + i * c + j] *= inv;
    }
    for (let i = 0; i < r * c; i++) X.data[t * r * c + i] = work[y + i];
  }
  return X;
}
