import {
  type BackendTensor,
  cpuKernels,
  formatShape,
  InvalidArgumentError,
  ShapeError,
  type SvdResult,
} from '@blastkit/core';
import type { Runtime } from '../runtime.js';
import { cpuHandoff } from './cpu-handoff.js';

/** Truncated SVD: a CPU hand-off to the reference (its sign convention and float64 accumulation included). */
export function truncatedSvd(rt: Runtime, AIn: BackendTensor, k: number): SvdResult {
  const A = rt.tensor(AIn, 'truncatedSvd input');
  if (A.shape.length !== 2) {
    throw new ShapeError(`truncatedSvd: A has shape ${formatShape(A.shape)}, expected [m,n]`);
  }
  const [m, n] = A.shape;
  if (!Number.isInteger(k) || k < 1 || k > Math.min(m, n)) {
    throw new InvalidArgumentError(
      `truncatedSvd: k = ${k} must be an integer in [1, ${Math.min(m, n)}] for a ${m}×${n} matrix`,
    );
  }
  const [U, S, V] = cpuHandoff(rt, [A], ['truncatedSvd U', 'truncatedSvd S', 'truncatedSvd V'], ([a]) => {
    const r = cpuKernels.truncatedSvd(a, k);
    return [r.U, r.S, r.V];
  });
  return { U, S, V };
}
