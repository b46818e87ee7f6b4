import { type BackendTensor, formatShape, ShapeError } from '@blastkit/core';
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
