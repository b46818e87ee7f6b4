import type { BackendTensor } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';
import { rowsOf } from './shapes.js';

/** Softmax over the last axis, max-subtracted: one block per row. */
export function softmax(rt: Runtime, xIn: BackendTensor): CudaTensor {
  const x = rt.tensor(xIn, 'softmax input');
  const { rows, width } = rowsOf(x.shape, 'softmax');
  const out = rt.alloc(x.shape, 'softmax output');
  rt.native.softmax(rt.ctx, out.id, x.id, rows, width);
  return out;
}
