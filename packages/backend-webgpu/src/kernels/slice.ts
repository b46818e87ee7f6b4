import { type BackendTensor, sliceShape } from '@blastkit/core';
import type { GpuTensor, Runtime } from '../runtime.js';
import { stridedCopy, stridesOf } from './strided-copy.js';

/** x[begin:begin+size] per axis (size -1: to the end) as a strided gather. */
export function slice(
  rt: Runtime,
  xIn: BackendTensor,
  begin: readonly number[],
  size: readonly number[],
): GpuTensor {
  const x = rt.tensor(xIn, 'slice input');
  const outShape = sliceShape(x.shape, begin, size);
  const out = rt.alloc(outShape, 'slice output');
  const inStrides = stridesOf(x.shape);
  const offset = begin.reduce((acc, b, d) => acc + b * inStrides[d], 0);
  stridedCopy(
    rt,
    x,
    { offset, strides: inStrides },
    out,
    { offset: 0, strides: stridesOf(outShape) },
    outShape,
  );
  return out;
}
