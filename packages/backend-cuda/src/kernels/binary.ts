import { type BackendTensor, cpuKernels } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';
import { coalesce } from './shapes.js';

const OPS = { add: 0, sub: 1, mul: 2 } as const;

/** Element strides of `shape` seen through the broadcast to `outShape` (0 along broadcast axes). */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[outShape.length - shape.length + i] = shape[i] === 1 ? 0 : s;
    s *= shape[i];
  }
  return strides;
}

/** add/sub/mul with numpy broadcasting: one strided kernel, axes merged where both operands allow. */
export function binary(
  rt: Runtime,
  op: keyof typeof OPS,
  aIn: BackendTensor,
  bIn: BackendTensor,
): CudaTensor {
  const a = rt.tensor(aIn, `${op} a`);
  const b = rt.tensor(bIn, `${op} b`);
  const shape = cpuKernels.broadcastShapes(a.shape, b.shape, op);
  const out = rt.alloc(shape, `${op} output`);
  if (out.size === 0) return out;
  const { dims, strides } = coalesce(
    op,
    shape,
    broadcastStrides(a.shape, shape),
    broadcastStrides(b.shape, shape),
  );
  rt.native.binary(rt.ctx, OPS[op], out.id, a.id, 0, b.id, 0, dims, strides[0], strides[1]);
  return out;
}
