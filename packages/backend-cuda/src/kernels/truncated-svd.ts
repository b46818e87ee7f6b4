import { type BackendTensor, cpuKernels, type SvdResult, truncatedSvdDims } from '@blastkit/core';
import type { Runtime } from '../runtime.js';
import { cpuHandoff } from './cpu-handoff.js';

/** Truncated SVD: a CPU hand-off to the reference (its sign convention and float64 accumulation included). */
export function truncatedSvd(rt: Runtime, AIn: BackendTensor, k: number): SvdResult {
  const A = rt.tensor(AIn, 'truncatedSvd input');
  truncatedSvdDims(A.shape, k);
  const [U, S, V] = cpuHandoff(rt, [A], ['truncatedSvd U', 'truncatedSvd S', 'truncatedSvd V'], ([a]) => {
    const r = cpuKernels.truncatedSvd(a, k);
    return [r.U, r.S, r.V];
  });
  return { U, S, V };
}
