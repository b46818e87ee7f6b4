import type { BackendTensor } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';

/** a·alpha + beta (computed in double on the device, as the reference computes it). */
export function scale(rt: Runtime, aIn: BackendTensor, alpha: number, beta = 0): CudaTensor {
  const a = rt.tensor(aIn, 'scale input');
  const out = rt.alloc(a.shape, 'scale output');
  rt.native.scale(rt.ctx, out.id, a.id, a.size, alpha, beta);
  return out;
}
