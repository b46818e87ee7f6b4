import { type BackendTensor, InvalidArgumentError } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';
import { rowsOf } from './shapes.js';

/** Index of the largest entry along the last axis (first on ties), as float32 values: one block per row. */
export function argmax(rt: Runtime, xIn: BackendTensor): CudaTensor {
  const x = rt.tensor(xIn, 'argmax input');
  const { rows, width } = rowsOf(x.shape, 'argmax');
  if (width === 0) throw new InvalidArgumentError('argmax: empty last axis');
  const out = rt.alloc(x.shape.slice(0, -1), 'argmax output');
  rt.native.argmax(rt.ctx, out.id, x.id, rows, width);
  return out;
}
