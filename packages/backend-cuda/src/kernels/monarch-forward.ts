import { type BackendTensor, monarchDims } from '@blastkit/core';
import { type CudaTensor, type Runtime, SCRATCH_W, SCRATCH_Z } from '../runtime.js';
import { gemmRowMajor } from './gemm.js';

/**
 * Monarch / block low-rank A = L·P·R, as the CPU reference: z_j = x_j·R_jᵀ (b groups of r′ per input block,
 * one batched GEMM), the permutation G_i[:, group j] = Z_j[:, group i] (one strided copy), then
 * y_i = G_i·L_iᵀ (one batched GEMM writing the column blocks of y).
 */
export function monarchForward(
  rt: Runtime,
  xIn: BackendTensor,
  LIn: BackendTensor,
  RIn: BackendTensor,
): CudaTensor {
  const x = rt.tensor(xIn, 'monarchForward x');
  const L = rt.tensor(LIn, 'monarchForward L');
  const R = rt.tensor(RIn, 'monarchForward R');
  const { b, p, q, br, rp, m, n, N } = monarchDims(x.shape, L.shape, R.shape);
  const y = rt.alloc([N, m], 'monarchForward output');
  if (N === 0 || m === 0) return y;
  const Z = rt.scratch(SCRATCH_Z, b * N * br);
  const G = rt.scratch(SCRATCH_W, b * N * br);
  gemmRowMajor(rt, {
    M: N,
    N: br,
    K: q,
    batch: b,
    a: { id: x.id, ld: n, stride: q },
    b: { id: R.id, ld: q, stride: br * q, transpose: true },
    c: { id: Z, ld: br, stride: N * br },
  });
  // G[i][t][j·r′ + u] = Z[j][t][i·r′ + u], walked over (i, t, j, u)
  rt.native.stridedCopy(rt.ctx, G, 0, Z, 0, [b, N, b, rp], [rp, br, N * br, 1], [N * br, br, rp, 1]);
  gemmRowMajor(rt, {
    M: N,
    N: p,
    K: br,
    batch: b,
    a: { id: G, ld: br, stride: N * br },
    b: { id: L.id, ld: br, stride: p * br, transpose: true },
    c: { id: y.id, ld: m, stride: p },
  });
  return y;
}
