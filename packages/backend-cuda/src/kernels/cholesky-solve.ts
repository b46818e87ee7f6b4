import { type BackendTensor, expectCholeskySolveShapes } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';
import { handOff } from './cpu-handoff.js';

/**
 * Batched SPD solves by Cholesky: a CPU hand-off to the float64 reference (the factorizer's small r×r systems
 * are latency-bound on a GPU and want float64 pivots). Shapes are checked before anything is downloaded.
 */
export function choleskySolve(rt: Runtime, AIn: BackendTensor, BIn: BackendTensor): CudaTensor {
  const A = rt.tensor(AIn, 'choleskySolve A');
  const B = rt.tensor(BIn, 'choleskySolve B');
  expectCholeskySolveShapes(A.shape, B.shape);
  const [X] = handOff(rt, 'choleskySolve', [A, B], ['choleskySolve output']);
  return X;
}
