import { expectCholeskySolveShapes } from '@blastkit/core';
import { hostKernel } from './kernel.js';

/**
 * Batched SPD solves A_k X_k = B_k by Cholesky: a CPU hand-off to the @blastkit/core reference (float64
 * pivots). tfjs has no Cholesky; its linalg has only Gram–Schmidt and Householder QR, and the factorizer's
 * many small r×r systems are latency-bound on any accelerator anyway.
 */
export const choleskySolve = hostKernel({
  name: 'choleskySolve',
  shapes: ([A, B]) => {
    expectCholeskySolveShapes(A, B);
    return [[...B]];
  },
  handoff: 'choleskySolve',
});
