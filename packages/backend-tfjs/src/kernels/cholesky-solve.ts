import { cpuKernels, formatShape, ShapeError } from '@blastkit/core';
import { hostKernel } from './kernel.js';

/**
 * Batched SPD solves A_k X_k = B_k by Cholesky: a CPU hand-off to the @blastkit/core reference (float64
 * pivots). tfjs has no Cholesky; its linalg has only Gram–Schmidt and Householder QR, and the factorizer's
 * many small r×r systems are latency-bound on any accelerator anyway.
 */
export const choleskySolve = hostKernel({
  name: 'choleskySolve',
  shapes: ([A, B]) => {
    const rank = A.length;
    const r = A[rank - 1];
    if ((rank !== 2 && rank !== 3) || A[rank - 2] !== r) {
      throw new ShapeError(`choleskySolve: A has shape ${formatShape(A)}, expected [batch,r,r] or [r,r]`);
    }
    const batched = rank === 3;
    const batch = batched ? A[0] : 1;
    if (B.length !== rank || (batched && B[0] !== batch) || B[rank - 2] !== r) {
      const expected = batched ? `[${batch},${r},*]` : `[${r},*]`;
      throw new ShapeError(`choleskySolve: B has shape ${formatShape(B)}, expected ${expected}`);
    }
    return [[...B]];
  },
  host: ([A, B]) => [cpuKernels.choleskySolve(A, B)],
});
