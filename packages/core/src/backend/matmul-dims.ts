import { formatShape, ShapeError } from '../errors.js';
import type { MatmulOptions } from './backend.js';

/** The sizes of op(A)·op(B) that every backend's matmul needs, after the interface's shape rules are checked. */
export interface MatmulDims {
  batched: boolean;
  /** Batch sizes of A and B (1 for 2-D; a batch of 1 broadcasts). */
  batchA: number;
  batchB: number;
  batch: number;
  /** Rows and columns of A and B as stored (before op). */
  rowsA: number;
  colsA: number;
  rowsB: number;
  colsB: number;
  M: number;
  N: number;
  K: number;
  transposeA: boolean;
  transposeB: boolean;
  /** Shape of the result: [M, N] or [batch, M, N]. */
  outShape: number[];
}

/**
 * Checks matmul operands as the Backend interface defines them (both 2-D or both 3-D, inner sizes equal, batch
 * sizes equal or 1) and returns the sizes — one rule, one message, for every backend.
 */
export function matmulDims(
  a: readonly number[],
  b: readonly number[],
  options: MatmulOptions = {},
): MatmulDims {
  const transposeA = options.transposeA ?? false;
  const transposeB = options.transposeB ?? false;
  if (a.length !== b.length || (a.length !== 2 && a.length !== 3)) {
    throw new ShapeError(
      `matmul: operands must both be 2-D or both 3-D, got ${formatShape(a)} and ${formatShape(b)}`,
    );
  }
  const batched = a.length === 3;
  const [batchA, rowsA, colsA] = batched ? a : [1, a[0], a[1]];
  const [batchB, rowsB, colsB] = batched ? b : [1, b[0], b[1]];
  const M = transposeA ? colsA : rowsA;
  const K = transposeA ? rowsA : colsA;
  const Kb = transposeB ? colsB : rowsB;
  const N = transposeB ? rowsB : colsB;
  if (K !== Kb) {
    throw new ShapeError(
      `matmul: inner dimensions differ: A${transposeA ? 'ᵀ' : ''} ${formatShape(a)} has ${K}, B${transposeB ? 'ᵀ' : ''} ${formatShape(b)} has ${Kb}`,
    );
  }
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) {
    throw new ShapeError(`matmul: batch sizes ${batchA} and ${batchB} differ (one may be 1 to broadcast)`);
  }
  const batch = Math.max(batchA, batchB);
  return {
    batched,
    batchA,
    batchB,
    batch,
    rowsA,
    colsA,
    rowsB,
    colsB,
    M,
    N,
    K,
    transposeA,
    transposeB,
    outShape: batched ? [batch, M, N] : [M, N],
  };
}
