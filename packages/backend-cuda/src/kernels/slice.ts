import { type BackendTensor, formatShape, ShapeError } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';
import { coalesce, contiguousStrides } from './shapes.js';

/** x[begin:begin+size] per axis (a size of -1 runs to the end): one strided copy. */
export function slice(
  rt: Runtime,
  xIn: BackendTensor,
  begin: readonly number[],
  size: readonly number[],
): CudaTensor {
  const x = rt.tensor(xIn, 'slice input');
  const rank = x.shape.length;
  if (begin.length !== rank || size.length !== rank) {
    throw new ShapeError(`slice: begin/size need ${rank} entries for shape ${formatShape(x.shape)}`);
  }
  const outShape = size.map((s, d) => (s === -1 ? x.shape[d] - begin[d] : s));
  outShape.forEach((s, d) => {
    if (!Number.isInteger(begin[d]) || begin[d] < 0 || s < 0 || begin[d] + s > x.shape[d]) {
      throw new ShapeError(
        `slice: [${begin[d]}, ${begin[d] + s}) is outside axis ${d} of ${formatShape(x.shape)}`,
      );
    }
  });
  const out = rt.alloc(outShape, 'slice output');
  if (out.size === 0) return out;
  const inStrides = contiguousStrides(x.shape);
  const offset = begin.reduce((acc, b, d) => acc + b * inStrides[d], 0);
  const { dims, strides } = coalesce('slice', outShape, inStrides, contiguousStrides(outShape));
  rt.native.stridedCopy(rt.ctx, out.id, 0, x.id, offset, dims, strides[0], strides[1]);
  return out;
}
