import { type BackendTensor, expectCholeskySolveShapes } from '@blastkit/core';
import type { GpuTensor, Runtime } from '../runtime.js';
import { handOff } from './cpu-handoff.js';

/**
 * Batched SPD solves by Cholesky: a CPU hand-off to the float64 reference (the factorizer's small r×r systems
 * are latency-bound on a GPU and want float64 pivots). Shapes are checked here, synchronously.
 */
export function choleskySolve(rt: Runtime, AIn: BackendTensor, BIn: BackendTensor): GpuTensor {
  const A = rt.tensor(AIn, 'choleskySolve A');
  const B = rt.tensor(BIn, 'choleskySolve B');
  expectCholeskySolveShapes(A.shape, B.shape);
  const X = rt.alloc(B.shape, 'choleskySolve output');
  handOff(rt, 'choleskySolve', [A, B], [X]);
  return X;
}
