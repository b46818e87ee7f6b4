import { type BackendTensor, sliceShape } from '@blastkit/core';
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
  const outShape = sliceShape(x.shape, begin, size);
  const out = rt.alloc(outShape, 'slice output');
  if (out.size === 0) return out;
  const inStrides = contiguousStrides(x.shape);
  const offset = begin.reduce((acc, b, d) => acc + b * inStrides[d], 0);
  const { dims, strides } = coalesce('slice', outShape, inStrides, contiguousStrides(outShape));
  rt.native.stridedCopy(rt.ctx, out.id, 0, x.id, offset, dims, strides[0], strides[1]);
  return out;
}
