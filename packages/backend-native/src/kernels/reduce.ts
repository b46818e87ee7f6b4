import {
  type BackendTensor,
  InvalidArgumentError,
  REDUCE_OPS,
  type ReduceOp,
  shapeSize,
} from '@blastkit/core';
import type { NativeTensor, Runtime } from '../runtime.js';
import { rowsOf } from './elementwise.js';

/** Reduces one axis (removed from the shape), or everything (shape []) when axis is undefined. */
export function reduce(rt: Runtime, x: BackendTensor, op: ReduceOp, axis?: number): NativeTensor {
  const code = REDUCE_OPS.indexOf(op);
  if (code < 0) {
    throw new InvalidArgumentError(`reduce: unknown op '${op}', expected one of ${REDUCE_OPS.join(', ')}`);
  }
  const X = rt.tensor(x, `${op} input`);
  const rank = X.shape.length;
  let outer: number;
  let len: number;
  let inner: number;
  let outShape: number[];
  if (axis === undefined) {
    outer = 1;
    len = X.size;
    inner = 1;
    outShape = [];
  } else {
    const ax = axis < 0 ? axis + rank : axis;
    if (!Number.isInteger(ax) || ax < 0 || ax >= rank) {
      throw new InvalidArgumentError(`reduce: axis ${axis} out of range for rank ${rank}`);
    }
    outer = shapeSize(X.shape.slice(0, ax));
    len = X.shape[ax];
    inner = shapeSize(X.shape.slice(ax + 1));
    outShape = X.shape.filter((_, i) => i !== ax);
  }
  if (len === 0 && (op === 'max' || op === 'min')) {
    throw new InvalidArgumentError(`reduce: ${op} of an empty axis`);
  }
  const y = rt.alloc(outShape, `${op} output`);
  rt.native.reduce(rt.ctx, code, y.id, X.id, outer, len, inner);
  return y;
}

/** Index of the largest entry along the last axis (first on ties), as float32 values. */
export function argmax(rt: Runtime, x: BackendTensor): NativeTensor {
  const X = rt.tensor(x, 'argmax input');
  const { rows, width } = rowsOf(X.shape, 'argmax');
  if (width === 0) throw new InvalidArgumentError('argmax: empty last axis');
  const y = rt.alloc(X.shape.slice(0, -1), 'argmax output');
  rt.native.argmax(rt.ctx, y.id, X.id, rows, width);
  return y;
}
