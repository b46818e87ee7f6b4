import { type BackendTensor, formatShape, InvalidArgumentError } from '@blastkit/core';
import type { GpuTensor, Runtime } from '../runtime.js';
import { stridedCopy, stridesOf } from './strided-copy.js';

/** numpy.transpose(x, perm) as a strided gather. */
export function transpose(rt: Runtime, xIn: BackendTensor, perm: readonly number[]): GpuTensor {
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
