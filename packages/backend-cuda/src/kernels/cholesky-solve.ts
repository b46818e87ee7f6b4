import { type BackendTensor, cpuKernels, formatShape, ShapeError } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';
import { cpuHandoff } from './cpu-handoff.js';

/**
 * Batched SPD solves by Cholesky: a CPU hand-off to the float64 reference (the factorizer's small r×r systems
 * are latency-bound on a GPU and want float64 pivots). Shapes are checked before anything is downloaded.
 */
export function choleskySolve(rt: Runtime, AIn: BackendTensor, BIn: BackendTensor): CudaTensor {
  const A = rt.tensor(AIn, 'choleskySolve A');
  const B = rt.tensor(BIn, 'choleskySolve B');
  const rank = A.shape.length;
  const r = A.shape[rank - 1];
  if ((rank !== 2 && rank !== 3) || A.shape[rank - 2] !== r) {
    throw new ShapeError(`choleskySolve: A has shape ${formatShape(A.shape)}, expected [batch,r,r] or [r,r]`);
  }
  const batched = rank === 3;
  const batch = batched ? A.shape[0] : 1;
  if (B.shape.length !== rank || (batched && B.shape[0] !== batch) || B.shape[rank - 2] !== r) {
    const expected = batched ? `[${batch},${r},*]` : `[${r},*]`;
    throw new ShapeError(`choleskySolve: B has shape ${formatShape(B.shape)}, expected ${expected}`);
  }
  const [X] = cpuHandoff(rt, [A, B], ['choleskySolve output'], ([a, b]) => [cpuKernels.choleskySolve(a, b)]);
  return X;
}
