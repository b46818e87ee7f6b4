import {
  type BackendTensor,
  type EighResult,
  expectCholeskySolveShapes,
  formatShape,
  NotPositiveDefiniteError,
  ShapeError,
  type SvdResult,
  truncatedSvdDims,
} from '@blastkit/core';
import type { NativeTensor, Runtime } from '../runtime.js';

/** The reference's assertFinite, read on the native side: a RangeError naming the first bad entry. */
function assertFinite(rt: Runtime, what: string, t: NativeTensor): void {
  const bad = rt.native.firstNonFinite(rt.ctx, t.id, t.size);
  if (bad) throw new RangeError(`${what}: entry ${bad[0]} is ${bad[1]}; expected finite values`);
}

/**
 * Batched SPD solves by Cholesky in float64 (Eigen's LLT; lower triangle read). A failing pivot is named with the
 * reference's own value for it.
 */
export function choleskySolve(rt: Runtime, A: BackendTensor, B: BackendTensor): NativeTensor {
  const tA = rt.tensor(A, 'choleskySolve A');
  const tB = rt.tensor(B, 'choleskySolve B');
  expectCholeskySolveShapes(tA.shape, tB.shape);
  const rank = tA.shape.length;
  const batched = rank === 3;
  const batch = batched ? tA.shape[0] : 1;
  const r = tA.shape[rank - 1];
  const c = tB.shape[rank - 1];
  const X = rt.alloc(tB.shape, 'choleskySolve output');
  const failure = rt.native.choleskySolve(rt.ctx, X.id, tA.id, tB.id, batch, r, c);
  if (failure) {
    rt.release(X);
    const where = batched ? `system ${failure.system}` : 'A';
    throw new NotPositiveDefiniteError(
      `choleskySolve: ${where} is not positive definite: pivot ${failure.pivot} is ${failure.value}`,
    );
  }
  return X;
}

/** Symmetric eigendecomposition in float64 (Eigen's SelfAdjointEigenSolver): values ascending. */
export function eigh(rt: Runtime, A: BackendTensor): EighResult {
  const tA = rt.tensor(A, 'eigh input');
  if (tA.shape.length !== 2 || tA.shape[0] !== tA.shape[1]) {
    throw new ShapeError(`eigh: A has shape ${formatShape(tA.shape)}, expected [n,n]`);
  }
  assertFinite(rt, 'eigh: A', tA);
  const n = tA.shape[0];
  const values = rt.alloc([n], 'eigh values');
  const vectors = rt.alloc([n, n], 'eigh vectors');
  rt.native.eigh(rt.ctx, values.id, vectors.id, tA.id, n);
  return { values, vectors };
}

/** The k leading singular triplets (the reference's Gram method, in float64 on Eigen). */
export function truncatedSvd(rt: Runtime, A: BackendTensor, k: number): SvdResult {
  const tA = rt.tensor(A, 'truncatedSvd input');
  const { m, n } = truncatedSvdDims(tA.shape, k);
  assertFinite(rt, 'truncatedSvd: A', tA);
  const U = rt.alloc([m, k], 'truncatedSvd U');
  const S = rt.alloc([k], 'truncatedSvd S');
  const V = rt.alloc([n, k], 'truncatedSvd V');
  rt.native.truncatedSvd(rt.ctx, U.id, S.id, V.id, tA.id, m, n, k);
  return { U, S, V };
}
