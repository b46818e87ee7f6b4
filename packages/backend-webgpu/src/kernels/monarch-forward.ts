import { type BackendTensor, monarchDims } from '@blastkit/core';
import type { GpuTensor, Runtime } from '../runtime.js';
import { gemm } from './gemm.js';
import { stridedCopy } from './strided-copy.js';

/**
 * Monarch A = L·P·R: z_j = x_j·R_jᵀ (batched GEMM), the group ↔ block permutation as a strided copy
 * (G_i[:, group j] = z_j[:, group i]), then y_i = G_i·L_iᵀ (batched GEMM into the output blocks).
 */
export function monarchForward(
  rt: Runtime,
  xIn: BackendTensor,
  LIn: BackendTensor,
  RIn: BackendTensor,
): GpuTensor {
  const x = rt.tensor(xIn, 'monarchForward x');
  const L = rt.tensor(LIn, 'monarchForward L');
  const R = rt.tensor(RIn, 'monarchForward R');
  const { b, p, q, br, rp, m, n, N } = monarchDims(x.shape, L.shape, R.shape);
  const y = rt.alloc([N, m], 'monarchForward output');
  if (N * m === 0) return y;
  const Z = rt.alloc([b, N, br], 'monarchForward z');
  const G = rt.alloc([b, N, br], 'monarchForward permuted z');
  gemm(rt, {
    M: N,
    N: br,
    K: q,
    batch: b,
    a: { tensor: x, ld: n, batchStride: q },
    b: { tensor: R, ld: q, batchStride: br * q, transpose: true },
    c: { tensor: Z, ld: br, batchStride: N * br },
  });
  // coordinates (i, t, j, c): G[i, t, j·r′ + c] = Z[j, t, i·r′ + c]
  stridedCopy(
    rt,
    Z,
    { offset: 0, strides: [rp, br, N * br, 1] },
    G,
    { offset: 0, strides: [N * br, br, rp, 1] },
    [b, N, b, rp],
  );
  gemm(rt, {
    M: N,
    N: p,
    K: br,
    batch: b,
    a: { tensor: G, ld: br, batchStride: N * br },
    b: { tensor: L, ld: br, batchStride: p * br, transpose: true },
    c: { tensor: y, ld: m, batchStride: p },
  });
  rt.release(Z);
  rt.release(G);
  return y;
}
