import { InvalidArgumentError, REDUCE_OPS, type ReduceOp } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { kernel } from './kernel.js';

/** Reduces one axis (removed from the shape), or everything (shape []) when axis is undefined. */
export const reduce = kernel<{ op: ReduceOp; axis?: number }>({
  name: 'reduce',
  shapes: ([x], { op, axis }) => {
    if (!REDUCE_OPS.includes(op)) {
      throw new InvalidArgumentError(`reduce: unknown op '${op}', expected one of ${REDUCE_OPS.join(', ')}`);
    }
    if (axis === undefined) {
      if ((op === 'max' || op === 'min') && x.includes(0))
        throw new InvalidArgumentError(`reduce: ${op} of an empty axis`);
      return [[]];
    }
    const ax = axis < 0 ? axis + x.length : axis;
    if (!Number.isInteger(ax) || ax < 0 || ax >= x.length) {
      throw new InvalidArgumentError(`reduce: axis ${axis} out of range for rank ${x.length}`);
    }
    if (x[ax] === 0 && (op === 'max' || op === 'min'))
      throw new InvalidArgumentError(`reduce: ${op} of an empty axis`);
    return [x.filter((_, i) => i !== ax)];
  },
  run: ([x], { op, axis }) => {
    switch (op) {
      case 'sum':
        return [tf.sum(x, axis)];
      case 'mean':
        return [tf.mean(x, axis)];
      case 'max':
        return [tf.max(x, axis)];
      case 'min':
        return [tf.min(x, axis)];
      case 'sumsq':
        return [tf.sum(tf.square(x), axis)];
    }
  },
});
