import { formatShape, InvalidArgumentError, ShapeError } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { kernel } from './kernel.js';

/** Joins tensors along one axis (negative counts from the end); all other axes must agree. */
export const concat = kernel<{ axis: number }>({
  name: 'concat',
  shapes: (xs, { axis }) => {
    if (xs.length === 0) throw new InvalidArgumentError('concat: needs at least one tensor');
    const rank = xs[0].length;
    const ax = axis < 0 ? axis + rank : axis;
    if (!Number.isInteger(ax) || ax < 0 || ax >= rank)
      throw new InvalidArgumentError(`concat: axis ${axis} out of range for rank ${rank}`);
    xs.forEach((t, i) => {
      if (t.length !== rank || t.some((d, k) => k !== ax && d !== xs[0][k])) {
        throw new ShapeError(
          `concat: input ${i} has shape ${formatShape(t)}, incompatible with ${formatShape(xs[0])} along axis ${ax}`,
        );
      }
    });
    const out = [...xs[0]];
    out[ax] = xs.reduce((s, t) => s + t[ax], 0);
    return [out];
  },
  // tf.concat of one tensor returns it as is; a clone keeps the output a tensor of its own
  run: (xs, { axis }) => [xs.length === 1 ? tf.clone(xs[0]) : tf.concat(xs, axis)],
});
