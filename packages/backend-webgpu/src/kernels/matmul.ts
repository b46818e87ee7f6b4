import { type BackendTensor, type MatmulOptions, matmulDims } from '@blastkit/core';
import type { GpuTensor, Runtime } from '../runtime.js';
import { gemm } from './gemm.js';

/** op(A)·op(B), 2-D or batched over a leading axis (a batch of 1 broadcasts). */
export function matmul(
  rt: Runtime,
  aIn: BackendTensor,
  bIn: BackendTensor,
  options: MatmulOptions = {},
): GpuTensor {
  const a = rt.tensor(aIn, 'matmul A');
  const b = rt.tensor(bIn, 'matmul B');
  const d = matmulDims(a.shape, b.shape, options);
  const { batch, M, N, K } = d;
  const out = rt.alloc(d.outShape, 'matmul output');
  // K = 0 needs no special case: the GEMM's k loop does not run and it writes zeros
  if (M * N * batch === 0) return out;
  gemm(rt, {
    M,
    N,
    K,
    batch,
    a: {
      tensor: a,
      ld: d.colsA,
      batchStride: d.batchA === 1 ? 0 : d.rowsA * d.colsA,
      transpose: d.transposeA,
    },
    b: {
      tensor: b,
      ld: d.colsB,
      batchStride: d.batchB === 1 ? 0 : d.rowsB * d.colsB,
      transpose: d.transposeB,
    },
    c: { tensor: out, ld: N, batchStride: M * N },
  });
  return out;
}
