import { type BackendTensor, concatShape, shapeSize } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';

/** Joins tensors along one axis: one strided copy per input into its slab of the output. */
export function concat(rt: Runtime, xsIn: readonly BackendTensor[], axis: number): CudaTensor {
  const xs = xsIn.map((t, i) => rt.tensor(t, `concat input ${i}`));
  const { axis: ax, shape: outShape } = concatShape(
    xs.map((t) => t.shape),
    axis,
  );
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
