import { type BackendTensor, formatShape, InvalidArgumentError } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';
import { coalesce, contiguousStrides } from './shapes.js';

/** numpy.transpose(x, perm): one strided copy (output walked in order, input through permuted strides). */
export function transpose(rt: Runtime, xIn: BackendTensor, perm: readonly number[]): CudaTensor {
  const x = rt.tensor(xIn, 'transpose input');
  const rank = x.shape.length;
  const sorted = [...perm].sort((a, b) => a - b);
  if (perm.length !== rank || sorted.some((p, i) => p !== i)) {
    throw new InvalidArgumentError(
      `transpose: perm [${perm.join(',')}] is not a permutation of the ${rank} axes of ${formatShape(x.shape)}`,
    );
  }
  const outShape = perm.map((p) => x.shape[p]);
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
