import { type BackendTensor, lowRankDims } from '@blastkit/core';
import type { GpuTensor, Runtime } from '../runtime.js';
import { gemm } from './gemm.js';

/** Low-rank A = U·Vᵀ: y = (x·V)·Uᵀ, two GEMMs through an [N, r] intermediate. */
export function lowRankForward(
  rt: Runtime,
  xIn: BackendTensor,
  UIn: BackendTensor,
  VIn: BackendTensor,
): GpuTensor {
  const x = rt.tensor(xIn, 'lowRankForward x');
  const U = rt.tensor(UIn, 'lowRankForward U');
  const V = rt.tensor(VIn, 'lowRankForward V');
  const { m, r, n, N } = lowRankDims(x.shape, U.shape, V.shape);
  const y = rt.alloc([N, m], 'lowRankForward output');
  if (N * m === 0) return y;
  const Z = rt.alloc([N, r], 'lowRankForward x·V');
  gemm(rt, {
    M: N,
    N: r,
    K: n,
    batch: 1,
    a: { tensor: x, ld: n, batchStride: 0 },
    b: { tensor: V, ld: r, batchStride: 0 },
    c: { tensor: Z, ld: r, batchStride: 0 },
  });
  gemm(rt, {
    M: N,
    N: m,
    K: r,
    batch: 1,
    a: { tensor: Z, ld: r, batchStride: 0 },
    b: { tensor: U, ld: r, batchStride: 0, transpose: true },
    c: { tensor: y, ld: m, batchStride: 0 },
  });
  rt.release(Z);
  return y;
}
