import { type BackendTensor, lowRankDims } from '@blastkit/core';
import { type CudaTensor, type Runtime, SCRATCH_Z } from '../runtime.js';
import { gemmRowMajor } from './gemm.js';

/** Low-rank A = U·Vᵀ: y = (x·V)·Uᵀ, two GEMMs through a scratch [N, r]. */
export function lowRankForward(
  rt: Runtime,
  xIn: BackendTensor,
  UIn: BackendTensor,
  VIn: BackendTensor,
): CudaTensor {
  const x = rt.tensor(xIn, 'lowRankForward x');
  const U = rt.tensor(UIn, 'lowRankForward U');
  const V = rt.tensor(VIn, 'lowRankForward V');
  const { m, r, n, N } = lowRankDims(x.shape, U.shape, V.shape);
  const y = rt.alloc([N, m], 'lowRankForward output');
  if (N === 0 || m === 0) return y;
  const Z = rt.scratch(SCRATCH_Z, N * r);
  gemmRowMajor(rt, {
    M: N,
    N: r,
    K: n,
    batch: 1,
    a: { id: x.id, ld: n, stride: 0 },
    b: { id: V.id, ld: r, stride: 0 },
    c: { id: Z, ld: r, stride: 0 },
  });
  gemmRowMajor(rt, {
    M: N,
    N: m,
    K: r,
    batch: 1,
    a: { id: Z, ld: r, stride: 0 },
    b: { id: U.id, ld: r, stride: 0, transpose: true },
    c: { id: y.id, ld: m, stride: 0 },
  });
  return y;
}
