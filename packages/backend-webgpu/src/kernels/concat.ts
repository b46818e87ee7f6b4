import { type BackendTensor, formatShape, InvalidArgumentError, ShapeError } from '@blastkit/core';
import type { GpuTensor, Runtime } from '../runtime.js';
import { stridedCopy, stridesOf } from './strided-copy.js';

/** Joins tensors along one axis: one strided copy of each input into its window of the output. */
export function concat(rt: Runtime, inputs: readonly BackendTensor[], axis: number): GpuTensor {
  if (inputs.length === 0) throw new InvalidArgumentError('concat: needs at least one tensor');
  const xs = inputs.map((t, i) => rt.tensor(t, `concat input ${i}`));
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
  const outStrides = stridesOf(outShape);
  let start = 0;
  for (const t of xs) {
    stridedCopy(
      rt,
      t,
      { offset: 0, strides: stridesOf(t.shape) },
      out,
      { offset: start * outStrides[ax], strides: outStrides },
      t.shape,
    );
    start += t.shape[ax];
  }
  return out;
}
