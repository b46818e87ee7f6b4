import {
  type BackendTensor,
  InvalidArgumentError,
  REDUCE_OPS,
  type ReduceOp,
  shapeSize,
} from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';

/** Reduces one axis (removed from the shape), or everything (shape []) when axis is undefined. */
export function reduce(rt: Runtime, xIn: BackendTensor, op: ReduceOp, axis?: number): CudaTensor {
  const code = REDUCE_OPS.indexOf(op);
  if (code < 0) {
    throw new InvalidArgumentError(`reduce: unknown op '${op}', expected one of ${REDUCE_OPS.join(', ')}`);
  }
  const x = rt.tensor(xIn, `${op} input`);
  const rank = x.shape.length;
  let outer = 1;
  let len = x.size;
  let inner = 1;
  let outShape: number[] = [];
  if (axis !== undefined) {
    const ax = axis < 0 ? axis + rank : axis;
    if (!Number.isInteger(ax) || ax < 0 || ax >= rank) {
      throw new InvalidArgumentError(`reduce: axis ${axis} out of range for rank ${rank}`);
    }
    outer = shapeSize(x.shape.slice(0, ax));
    len = x.shape[ax];
    inner = shapeSize(x.shape.slice(ax + 1));
    outShape = x.shape.filter((_, i) => i !== ax);
  }
  if (len === 0 && (op === 'max' || op === 'min'))
    throw new InvalidArgumentError(`reduce: ${op} of an empty axis`);
  const out = rt.alloc(outShape, `${op} output`);
  rt.native.reduce(rt.ctx, code, out.id, x.id, outer, len, inner);
  return out;
}
