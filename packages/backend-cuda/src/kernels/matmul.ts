import { type BackendTensor, type MatmulOptions, matmulDims } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';
import { gemmRowMajor } from './gemm.js';

/** op(A)·op(B), 2-D or batched over a leading axis (a batch of 1 broadcasts through a zero stride). */
export function matmul(
  rt: Runtime,
  aIn: BackendTensor,
  bIn: BackendTensor,
  options?: MatmulOptions,
): CudaTensor {
  const a = rt.tensor(aIn, 'matmul A');
  const b = rt.tensor(bIn, 'matmul B');
  const d = matmulDims(a.shape, b.shape, options);
  const out = rt.alloc(d.outShape, 'matmul output');
  gemmRowMajor(rt, {
    M: d.M,
    N: d.N,
    K: d.K,
    batch: d.batch,
    a: {
      id: a.id,
      ld: d.colsA,
      stride: d.batchA === 1 ? 0 : d.rowsA * d.colsA,
      transpose: d.transposeA,
    },
    b: {
      id: b.id,
      ld: d.colsB,
      stride: d.batchB === 1 ? 0 : d.rowsB * d.colsB,
      transpose: d.transposeB,
    },
    c: { id: out.id, ld: d.N, stride: d.M * d.N },
  });
  return out;
}
