import { type BackendTensor, type SvdResult, truncatedSvdDims } from '@blastkit/core';
import type { Runtime } from '../runtime.js';
import { handOff } from './cpu-handoff.js';

/** Truncated SVD: a CPU hand-off to the reference (its sign convention and float64 accumulation included). */
export function truncatedSvd(rt: Runtime, AIn: BackendTensor, k: number): SvdResult {
  const A = rt.tensor(AIn, 'truncatedSvd input');
  const { m, n } = truncatedSvdDims(A.shape, k);
  const U = rt.alloc([m, k], 'truncatedSvd U');
  const S = rt.alloc([k], 'truncatedSvd S');
  const V = rt.alloc([n, k], 'truncatedSvd V');
  handOff(rt, 'truncatedSvd', [A], [U, S, V], { k });
  return { U, S, V };
}
