import { REDUCE_OPS, type ReduceOp } from '../../backend/kernel-names.js';
import { InvalidArgumentError } from '../../errors.js';
import { shapeSize, Tensor } from '../../tensor/tensor.js';
import { rowsOf } from './elementwise.js';

/** Reduces one axis (removed from the shape), or everything (shape []) when axis is undefined. */
export function reduce(x: Tensor, op: ReduceOp, axis?: number): Tensor {
  if (!REDUCE_OPS.includes(op)) {
    throw new InvalidArgumentError(`reduce: unknown op '${op}', expected one of ${REDUCE_OPS.join(', ')}`);
  }
  let outer: number;
  let len: number;
  let inner: number;
  let outShape: number[];
  if (axis === undefined) {
    outer = 1;
    len = x.size;
    inner = 1;
    outShape = [];
  } else {
    const ax = axis < 0 ? axis + x.rank : axis;
    if (!Number.isInteger(ax) || ax < 0 || ax >= x.rank) {
      throw new InvalidArgumentError(`reduce: axis ${axis} out of range for rank ${x.rank}`);
    }
    outer = shapeSize(x.shape.slice(0, ax));
    len = x.shape[ax];
    inner = shapeSize(x.shape.slice(ax + 1));
    outShape = x.shape.filter((_, i) => i !== ax);
  }
  if (len === 0 && (op === 'max' || op === 'min'))
    throw new InvalidArgumentError(`reduce: ${op} of an empty axis`);
  const out = new Tensor(outShape);
  const d = x.data;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * len * inner + i;
      let acc = op === 'max' ? Number.NEGATIVE_INFINITY : op === 'min' ? Number.POSITIVE_INFINITY : 0;
      for (let k = 0; k < len; k++) {
        const v = d[base + k * inner];
        if (op === 'max') acc = Math.max(acc, v);
        else if (op === 'min') acc = Math.min(acc, v);
        else if (op === 'sumsq') acc += v * v;
        else acc += v;
      }
      out.data[o * inner + i] = op === 'mean' ? acc / len : acc;
    }
  }
  return out;
}

/** Index of the largest entry along the last axis (first on ties), as float32 values. */
export function argmax(x: Tensor): Tensor {
  const { rows, width } = rowsOf(x, 'argmax');
  if (width === 0) throw new InvalidArgumentError('argmax: empty last axis');
  const out = new Tensor(x.shape.slice(0, -1));
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let bestV = x.data[r * width];
    for (let j = 1; j < width; j++) {
      const v = x.data[r * width + j];
      if (v > bestV) {
        bestV = v;
        best = j;
      }
    }
    out.data[r] = best;
  }
  return out;
}
