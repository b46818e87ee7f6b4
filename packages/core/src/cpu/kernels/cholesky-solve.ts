import { formatShape, NotPositiveDefiniteError, ShapeError } from '../../errors.js';
import { Tensor } from '../../tensor/tensor.js';

/**
 * Cholesky-factors the r×r row-major matrix at `a[offset…]` in place (lower triangle read; L written there,
 * the strict upper triangle left alone). Returns the index of the first pivot that is not positive and
 * finite, or -1 on success.
 */
export function choleskyFactorInPlace(a: Float64Array, r: number, offset = 0): number {
  for (let j = 0; j < r; j++) {
    const rowJ = offset + j * r;
    let pivot = a[rowJ + j];
    for (let k = 0; k < j; k++) pivot -= a[rowJ + k] * a[rowJ + k];
    // `!(pivot > 0)` also catches NaN; any non-finite entry of the lower triangle ends up in some pivot
    if (!(pivot > 0) || pivot === Infinity) return j;
    const ljj = Math.sqrt(pivot);
    a[rowJ + j] = ljj;
    const inv = 1 / ljj;
    for (let i = j + 1; i < r; i++) {
      const rowI = offset + i * r;
      let s = a[rowI + j];
      for (let k = 0; k < j; k++) s -= a[rowI + k] * a[rowJ + k];
      a[rowI + j] = s * inv;
    }
  }
  return -1;
}

/**
 * Overwrites the r×c row-major right-hand sides at `b[bOffset…]` with X solving (L·Lᵀ)·X = B, where L is the
 * lower factor at `factor[factorOffset…]` from choleskyFactorInPlace.
 */
export function choleskySubstituteInPlace(
  factor: Float64Array,
  r: number,
  b: Float64Array,
  c: number,
  factorOffset = 0,
  bOffset = 0,
): void {
  // both sweeps update whole rows of B, which are contiguous, rather than one column at a time
  for (let i = 0; i < r; i++) {
    const rowL = factorOffset + i * r;
    const rowB = bOffset + i * c;
    for (let k = 0; k < i; k++) {
      const l = factor[rowL + k];
      if (l === 0) continue;
      const rowK = bOffset + k * c;
      for (let j = 0; j < c; j++) b[rowB + j] -= l * b[rowK + j];
    }
    const inv = 1 / factor[rowL + i];
    for (let j = 0; j < c; j++) b[rowB + j] *= inv;
  }
  for (let i = r - 1; i >= 0; i--) {
    const rowB = bOffset + i * c;
    for (let k = i + 1; k < r; k++) {
      const l = factor[factorOffset + k * r + i];
      if (l === 0) continue;
      const rowK = bOffset + k * c;
      for (let j = 0; j < c; j++) b[rowB + j] -= l * b[rowK + j];
    }
    const inv = 1 / factor[factorOffset + i * r + i];
    for (let j = 0; j < c; j++) b[rowB + j] *= inv;
  }
}

/**
 * Solves A_k X_k = B_k for a batch of symmetric positive definite systems by Cholesky in float64:
 * A [batch, r, r] (lower triangle read), B [batch, r, c] → X [batch, r, c]; or 2-D A [r, r], B [r, c] → [r, c].
 */
export function choleskySolve(A: Tensor, B: Tensor): Tensor {
  const batched = A.rank === 3;
  const r = A.shape[A.rank - 1];
  if ((A.rank !== 2 && A.rank !== 3) || A.shape[A.rank - 2] !== r) {
    throw new ShapeError(`choleskySolve: A has shape ${formatShape(A.shape)}, expected [batch,r,r] or [r,r]`);
  }
  const batch = batched ? A.shape[0] : 1;
  if (B.rank !== A.rank || (batched && B.shape[0] !== batch) || B.shape[B.rank - 2] !== r) {
    const expected = batched ? `[${batch},${r},*]` : `[${r},*]`;
    throw new ShapeError(`choleskySolve: B has shape ${formatShape(B.shape)}, expected ${expected}`);
  }
  const c = B.shape[B.rank - 1];
  const X = new Tensor(B.shape);
  const factor = new Float64Array(r * r);
  const rhs = new Float64Array(r * c);
  for (let system = 0; system < batch; system++) {
    for (let i = 0; i < r * r; i++) factor[i] = A.data[system * r * r + i];
    const badPivot = choleskyFactorInPlace(factor, r);
    if (badPivot >= 0) {
      const where = batched ? `system ${system}` : 'A';
      throw new NotPositiveDefiniteError(
        `choleskySolve: ${where} is not positive definite: pivot ${badPivot} is ${pivotValue(factor, r, badPivot)}`,
      );
    }
    for (let i = 0; i < r * c; i++) rhs[i] = B.data[system * r * c + i];
    choleskySubstituteInPlace(factor, r, rhs, c);
    for (let i = 0; i < r * c; i++) X.data[system * r * c + i] = rhs[i];
  }
  return X;
}

/** The failing pivot's value after elimination, for the error message (the factor keeps the raw diagonal). */
function pivotValue(factor: Float64Array, r: number, j: number): number {
  let pivot = factor[j * r + j];
  for (let k = 0; k < j; k++) pivot -= factor[j * r + k] * factor[j * r + k];
  return pivot;
}
