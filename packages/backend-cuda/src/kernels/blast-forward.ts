import { type BackendTensor, type BlastForwardOptions, blastDims } from '@blastkit/core';
import { type CudaTensor, type Runtime, SCRATCH_W, SCRATCH_Z } from '../runtime.js';
import { gemmRowMajor } from './gemm.js';

/**
 * The BLAST layer (method.md §1) in three steps, never forming A nor the b×b×N×r tensor:
 *   1. z_j = x_j·C_jᵀ            one strided batched GEMM over the b input blocks of x (row stride n)
 *   2. w_i = Σ_j D[i,j,:] ⊙ z_j  the addon's mixing kernel: each thread loads its b values of Z once
 *   3. y_i = w_i·B_iᵀ            one strided batched GEMM writing the b column blocks of y (ldc = m)
 * With `transpose` (Aᵀ, as the CPU reference): B and C swap roles (z_i = x_i·B_i, y_j = w_j·C_j) and D is
 * read as D[j,i,:]. Z and W live in the context's scratch buffers.
 */
export function blastForward(
  rt: Runtime,
  xIn: BackendTensor,
  BIn: BackendTensor,
  CIn: BackendTensor,
  DIn: BackendTensor,
  options: BlastForwardOptions = {},
): CudaTensor {
  const x = rt.tensor(xIn, 'blastForward x');
  const B = rt.tensor(BIn, 'blastForward B');
  const C = rt.tensor(CIn, 'blastForward C');
  const D = rt.tensor(DIn, 'blastForward D');
  const { b, p, q, r, N, transpose, inBlock, outBlock, nIn, nOut } = blastDims(
    x.shape,
    B.shape,
    C.shape,
    D.shape,
    options.transpose ?? false,
  );
  const y = rt.alloc([N, nOut], 'blastForward output');
  if (N === 0 || nOut === 0) return y;
  const Z = rt.scratch(SCRATCH_Z, b * N * r);
  const W = rt.scratch(SCRATCH_W, b * N * r);
  // 1. z_j = x_j·V_j with V_j = C_jᵀ ([q, r]); for Aᵀ: z_i = x_i·U_i with U_i = B_i ([p, r])
  gemmRowMajor(rt, {
    M: N,
    N: r,
    K: inBlock,
    batch: b,
    a: { id: x.id, ld: nIn, stride: inBlock },
    b: transpose ? { id: B.id, ld: r, stride: p * r } : { id: C.id, ld: q, stride: r * q, transpose: true },
    c: { id: Z, ld: r, stride: N * r },
  });
  // 2. w_i = Σ_j s_ij ⊙ z_j (for Aᵀ: w_j = Σ_i s_ij ⊙ z_i)
  rt.native.blastMix(rt.ctx, Z, D.id, W, b, N, r, transpose);
  // 3. y_i = w_i·U_iᵀ = w_i·B_iᵀ; for Aᵀ: y_j = w_j·V_jᵀ = w_j·C_j
  gemmRowMajor(rt, {
    M: N,
    N: outBlock,
    K: r,
    batch: b,
    a: { id: W, ld: r, stride: N * r },
    b: transpose ? { id: C.id, ld: q, stride: r * q } : { id: B.id, ld: r, stride: p * r, transpose: true },
    c: { id: y.id, ld: nOut, stride: outBlock },
  });
  return y;
}
