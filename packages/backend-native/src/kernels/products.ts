import {
  type BackendTensor,
  type BlastForwardOptions,
  blastDims,
  expectShape,
  formatShape,
  lowRankDims,
  type MatmulOptions,
  matmulDims,
  monarchDims,
  ShapeError,
} from '@blastkit/core';
import type { NativeTensor, Runtime } from '../runtime.js';

// The products: every shape is checked with core's rules (the CPU reference's messages) before the addon is
// called; the addon checks the byte ranges again before it touches memory.

/** op(A)·op(B), 2-D or batched 3-D (a batch of 1 broadcasts). */
export function matmul(
  rt: Runtime,
  a: BackendTensor,
  b: BackendTensor,
  options?: MatmulOptions,
): NativeTensor {
  const A = rt.tensor(a, 'matmul A');
  const B = rt.tensor(b, 'matmul B');
  const d = matmulDims(A.shape, B.shape, options);
  const y = rt.alloc(d.outShape, 'matmul output');
  rt.native.matmul(
    rt.ctx,
    y.id,
    A.id,
    B.id,
    d.batch,
    d.batchA,
    d.batchB,
    d.M,
    d.N,
    d.K,
    d.transposeA,
    d.transposeB,
  );
  return y;
}

/** x·Wᵀ (+ bias). */
export function linear(
  rt: Runtime,
  x: BackendTensor,
  weight: BackendTensor,
  bias?: BackendTensor,
): NativeTensor {
  const X = rt.tensor(x, 'linear x');
  const W = rt.tensor(weight, 'linear weight');
  const Bias = bias === undefined ? undefined : rt.tensor(bias, 'linear bias');
  expectShape('linear: weight', W.shape, [-1, -1]);
  const [m, n] = W.shape;
  expectShape('linear: x', X.shape, [-1, n]);
  if (Bias) expectShape('linear: bias', Bias.shape, [m]);
  const N = X.shape[0];
  const y = rt.alloc([N, m], 'linear output');
  rt.native.linear(rt.ctx, y.id, X.id, W.id, Bias ? Bias.id : null, N, m, n);
  return y;
}

/** Which BLAST path to take: by rows (fused for N ≤ 8), or one of the two forced (for tests and benchmarks). */
export type BlastPath = 'auto' | 'fused' | 'three-pass';

/** The BLAST forward of method.md §1 (fused decode for N ≤ 8, three passes otherwise). */
export function blastForward(
  rt: Runtime,
  x: BackendTensor,
  B: BackendTensor,
  C: BackendTensor,
  D: BackendTensor,
  options: BlastForwardOptions = {},
  path: BlastPath = 'auto',
): NativeTensor {
  const X = rt.tensor(x, 'blastForward x');
  const tB = rt.tensor(B, 'B');
  const tC = rt.tensor(C, 'C');
  const tD = rt.tensor(D, 'D');
  const d = blastDims(X.shape, tB.shape, tC.shape, tD.shape, options.transpose ?? false);
  if (path === 'fused' && d.N > 8) {
    throw new ShapeError(`blastForward: the fused path takes at most 8 rows, x has ${d.N}`);
  }
  const y = rt.alloc([d.N, d.nOut], 'blastForward output');
  const mode = path === 'fused' ? 1 : path === 'three-pass' ? 2 : 0;
  rt.native.blast(rt.ctx, y.id, X.id, tB.id, tC.id, tD.id, d.N, d.b, d.p, d.q, d.r, d.transpose, mode);
  return y;
}

/** Low-rank A = U·Vᵀ: y = (x·V)·Uᵀ. */
export function lowRankForward(
  rt: Runtime,
  x: BackendTensor,
  U: BackendTensor,
  V: BackendTensor,
): NativeTensor {
  const X = rt.tensor(x, 'lowRankForward x');
  const tU = rt.tensor(U, 'U');
  const tV = rt.tensor(V, 'V');
  const d = lowRankDims(X.shape, tU.shape, tV.shape);
  const y = rt.alloc([d.N, d.m], 'lowRankForward output');
  rt.native.lowRank(rt.ctx, y.id, X.id, tU.id, tV.id, d.N, d.m, d.n, d.r);
  return y;
}

/** Monarch / block low-rank A = L·P·R. */
export function monarchForward(
  rt: Runtime,
  x: BackendTensor,
  L: BackendTensor,
  R: BackendTensor,
): NativeTensor {
  const X = rt.tensor(x, 'monarchForward x');
  const tL = rt.tensor(L, 'L');
  const tR = rt.tensor(R, 'R');
  const d = monarchDims(X.shape, tL.shape, tR.shape);
  const y = rt.alloc([d.N, d.m], 'monarchForward output');
  rt.native.monarch(rt.ctx, y.id, X.id, tL.id, tR.id, d.N, d.b, d.p, d.q, d.br);
  return y;
}

/** Block-diagonal A = diag(blocks_0, …). */
export function blockDiagonalForward(rt: Runtime, x: BackendTensor, blocks: BackendTensor): NativeTensor {
  const X = rt.tensor(x, 'blockDiagonalForward x');
  const tb = rt.tensor(blocks, 'blocks');
  if (tb.shape.length !== 3) {
    throw new ShapeError(
      `blockDiagonalForward: blocks has shape ${formatShape(tb.shape)}, expected [b,m/b,n/b]`,
    );
  }
  const [b, p, q] = tb.shape;
  if (X.shape.length !== 2 || X.shape[1] !== b * q) {
    throw new ShapeError(`blockDiagonalForward: x has shape ${formatShape(X.shape)}, expected [N,${b * q}]`);
  }
  const N = X.shape[0];
  const y = rt.alloc([N, b * p], 'blockDiagonalForward output');
  rt.native.blockDiagonal(rt.ctx, y.id, X.id, tb.id, N, b, p, q);
  return y;
}
