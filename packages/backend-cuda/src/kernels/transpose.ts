import { type BackendTensor, transposeShape } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';
import { coalesce, contiguousStrides } from './shapes.js';

/** numpy.transpose(x, perm): one strided copy (output walked in order, input through permuted strides). */
export function transpose(rt: Runtime, xIn: BackendTensor, perm: readonly number[]): CudaTensor {
  const x = rt.tensor(xIn, 'transpose input');
  const outShape = transposeShape(x.shape, perm);
  const out = rt.alloc(outShape, 'transpose output');
  if (out.size === 0) return out;
  const inStrides = contiguousStrides(x.shape);
  const { dims, strides } = coalesce(
    'transpose',
    outShape,
    perm.map((p) => inStrides[p]),
    contiguousStrides(outShape),
  );
  rt.native.stridedCopy(rt.ctx, out.id, 0, x.id, 0, dims, strides[0], strides[1]);
  return out;
}
