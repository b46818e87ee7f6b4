import { type BackendTensor, concatShape } from '@blastkit/core';
import type { GpuTensor, Runtime } from '../runtime.js';
import { stridedCopy, stridesOf } from './strided-copy.js';

/** Joins tensors along one axis: one strided copy of each input into its window of the output. */
export function concat(rt: Runtime, inputs: readonly BackendTensor[], axis: number): GpuTensor {
  const xs = inputs.map((t, i) => rt.tensor(t, `concat input ${i}`));
  const { axis: ax, shape: outShape } = concatShape(
    xs.map((t) => t.shape),
    axis,
  );
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
