import { type BackendTensor, type SvdResult, truncatedSvdDims } from '@blastkit/core';
import type { Runtime } from '../runtime.js';
import { handOff } from './cpu-handoff.js';

/** Truncated SVD: a CPU hand-off to the reference (its sign convention and float64 accumulation included). */
export function truncatedSvd(rt: Runtime, AIn: BackendTensor, k: number): SvdResult {
  const A = rt.tensor(AIn, 'truncatedSvd input');
  truncatedSvdDims(A.shape, k);
  const names = ['truncatedSvd U', 'truncatedSvd S', 'truncatedSvd V'];
  const [U, S, V] = handOff(rt, 'truncatedSvd', [A], names, { k });
  return { U, S, V };
}
