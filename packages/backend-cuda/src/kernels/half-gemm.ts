import { formatShape, InvalidArgumentError, type MatmulOptions, matmulDims, shapeSize } from '@blastkit/core';
import { type BufferId, DTYPE_BF16, DTYPE_F16 } from '../native-addon.js';
import type { CudaTensor, Runtime } from '../runtime.js';
import { gemmRowMajor } from './gemm.js';

export type HalfDtype = 'float16' | 'bfloat16';

/** A float16 or bfloat16 copy of a tensor on the device: an input of matmulHalf only (benchmarks). */
export class CudaHalfTensor {
  disposed = false;
  constructor(
    readonly shape: readonly number[],
    readonly dtype: HalfDtype,
    readonly id: BufferId,
    readonly owner: Runtime,
  ) {}
}

function code(dtype: HalfDtype): typeof DTYPE_F16 | typeof DTYPE_BF16 {
  if (dtype === 'float16') return DTYPE_F16;
  if (dtype === 'bfloat16') return DTYPE_BF16;
  throw new InvalidArgumentError(`toHalf: dtype '${dtype}' is not 'float16' or 'bfloat16'`);
}

/** Rounds a float32 tensor to float16 or bfloat16 (nearest even) into a new device buffer. */
export function toHalf(rt: Runtime, x: CudaTensor, dtype: HalfDtype): CudaHalfTensor {
  const c = code(dtype);
  const id = rt.native.alloc(rt.ctx, shapeSize(x.shape) * 2);
  rt.native.castHalf(rt.ctx, c, id, x.id, x.size);
  return new CudaHalfTensor([...x.shape], dtype, id, rt);
}

function half(rt: Runtime, t: CudaHalfTensor, what: string): CudaHalfTensor {
  if (!(t instanceof CudaHalfTensor) || t.owner !== rt)
    throw new InvalidArgumentError(`cuda: ${what} is not a half tensor of this backend`);
  if (t.disposed) throw new InvalidArgumentError(`cuda: ${what} was disposed`);
  rt.checkOpen();
  return t;
}

export function disposeHalf(rt: Runtime, t: CudaHalfTensor): void {
  if (t.owner !== rt || t.disposed) return;
  t.disposed = true;
  if (!rt.closed) rt.native.free(rt.ctx, t.id);
}

/** op(A)·op(B) of two half tensors of one dtype with float32 accumulation and output (cublasGemmEx). */
export function matmulHalf(
  rt: Runtime,
  aIn: CudaHalfTensor,
  bIn: CudaHalfTensor,
  options?: MatmulOptions,
): CudaTensor {
  const a = half(rt, aIn, 'matmulHalf A');
  const b = half(rt, bIn, 'matmulHalf B');
  if (a.dtype !== b.dtype) {
    throw new InvalidArgumentError(
      `matmulHalf: A ${formatShape(a.shape)} is ${a.dtype} but B ${formatShape(b.shape)} is ${b.dtype}`,
    );
  }
  const d = matmulDims(a.shape, b.shape, options);
  const out = rt.alloc(d.outShape, 'matmulHalf output');
  gemmRowMajor(rt, {
    M: d.M,
    N: d.N,
    K: d.K,
    batch: d.batch,
    dtype: code(a.dtype),
    a: { id: a.id, ld: d.colsA, stride: d.batchA === 1 ? 0 : d.rowsA * d.colsA, transpose: d.transposeA },
    b: { id: b.id, ld: d.colsB, stride: d.batchB === 1 ? 0 : d.rowsB * d.colsB, transpose: d.transposeB },
    c: { id: out.id, ld: d.N, stride: d.M * d.N },
  });
  return out;
}
