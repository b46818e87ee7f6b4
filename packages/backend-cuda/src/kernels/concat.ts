import { type BackendTensor, formatShape, InvalidArgumentError, ShapeError, shapeSize } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';

/** Joins tensors along one axis: one strided copy per input into its slab of the output. */
export function concat(rt: Runtime, xsIn: readonly BackendTensor[], axis: number): CudaTensor {
  if (xsIn.length === 0) throw new InvalidArgumentError('concat: needs at least one tensor');
  const xs = xsIn.map((t, i) => rt.tensor(t, `concat input ${i}`));
  const rank = xs[0].shape.length;
  const ax = axis < 0 ? axis + rank : axis;
  if (ax < 0 || ax >= rank)
    throw new InvalidArgumentError(`concat: axis ${axis} out of range for rank ${rank}`);
  xs.forEach((t, i) => {
    if (t.shape.length !== rank || t.shape.some((d, k) => k !== ax && d !== xs[0].shape[k])) {
      throw new ShapeError(
        `concat: input ${i} has shape ${formatShape(t.shape)}, incompatible with ${formatShape(xs[0].shape)} along axis ${ax}`,
      );
    }
  });
  const outShape = [...xs[0].shape];
  outShape[ax] = xs.reduce((s, t) => s + t.shape[ax], 0);
  const out = rt.alloc(outShape, 'concat output');
  const outer = shapeSize(outShape.slice(0, ax));
  const innerOut = shapeSize(outShape.slice(ax));
  let offset = 0;
  for (const t of xs) {
    const chunk = shapeSize(t.shape.slice(ax));
    if (outer > 0 && chunk > 0) {
      rt.native.stridedCopy(rt.ctx, out.id, offset, t.id, 0, [outer, chunk], [chunk, 1], [innerOut, 1]);
    }
    offset += chunk;
  }
  return out;
}
