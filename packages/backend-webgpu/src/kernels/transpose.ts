import { type BackendTensor, transposeShape } from '@blastkit/core';
import type { GpuTensor, Runtime } from '../runtime.js';
import { stridedCopy, stridesOf } from './strided-copy.js';

/** numpy.transpose(x, perm) as a strided gather. */
export function transpose(rt: Runtime, xIn: BackendTensor, perm: readonly number[]): GpuTensor {
  const x = rt.tensor(xIn, 'transpose input');
  const outShape = transposeShape(x.shape, perm);
  const out = rt.alloc(outShape, 'transpose output');
  const inStrides = stridesOf(x.shape);
  stridedCopy(
    rt,
    x,
    { offset: 0, strides: perm.map((p) => inStrides[p]) },
    out,
    { offset: 0, strides: stridesOf(outShape) },
    outShape,
  );
  return out;
}
