import { type BackendTensor, formatShape, type MatmulOptions, ShapeError } from '@blastkit/core';
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
  const ta = options.transposeA ?? false;
  const tb = options.transposeB ?? false;
  if (a.shape.length !== b.shape.length || (a.shape.length !== 2 && a.shape.length !== 3)) {
    throw new ShapeError(
      `matmul: operands must both be 2-D or both 3-D, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`,
    );
  }
  const batched = a.shape.length === 3;
  const [ba, ra, ca] = batched ? a.shape : [1, a.shape[0], a.shape[1]];
  const [bb, rb, cb] = batched ? b.shape : [1, b.shape[0], b.shape[1]];
  const M = ta ? ca : ra;
  const K = ta ? ra : ca;
  const Kb = tb ? cb : rb;
  const N = tb ? rb : cb;
  if (K !== Kb) {
    throw new ShapeError(
      `matmul: inner dimensions differ: A${ta ? 'ᵀ' : ''} ${formatShape(a.shape)} has ${K}, B${tb ? 'ᵀ' : ''} ${formatShape(b.shape)} has ${Kb}`,
    );
  }
  if (ba !== bb && ba !== 1 && bb !== 1) {
    throw new ShapeError(`matmul: batch sizes ${ba} and ${bb} differ (one may be 1 to broadcast)`);
  }
  const batch = Math.max(ba, bb);
  const out = rt.alloc(batched ? [batch, M, N] : [M, N], 'matmul output');
  // K = 0 needs no special case: the GEMM's k loop does not run and it writes zeros
  if (M * N * batch === 0) return out;
  gemm(rt, {
    M,
    N,
    K,
    batch,
    a: { tensor: a, ld: ca, batchStride: ba === 1 ? 0 : ra * ca, transpose: ta },
    b: { tensor: b, ld: cb, batchStride: bb === 1 ? 0 : rb * cb, transpose: tb },
    c: { tensor: out, ld: N, batchStride: M * N },
  });
  return out;
}
