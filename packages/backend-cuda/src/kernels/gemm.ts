import { type BufferId, DTYPE_F32, type GemmDtype } from '../native-addon.js';
import type { Runtime } from '../runtime.js';

/** One row-major operand of a (batched) GEMM inside a buffer. */
export interface RowMajorOperand {
  id: BufferId;
  /** First element of matrix 0. */
  offset?: number;
  /** Elements between consecutive rows as stored (≥ the stored column count). */
  ld: number;
  /** Elements between consecutive matrices of the batch; 0 repeats one matrix for every batch entry. */
  stride: number;
  /** Use the stored matrix transposed. */
  transpose?: boolean;
}

export interface RowMajorGemm {
  /** op(A) is M×K, op(B) is K×N, C is M×N. */
  M: number;
  N: number;
  K: number;
  batch: number;
  a: RowMajorOperand;
  b: RowMajorOperand;
  c: Omit<RowMajorOperand, 'transpose'>;
  /** 0 overwrites C, 1 accumulates into it. */
  beta?: number;
  /** Element type of A and B (C is always float32). */
  dtype?: GemmDtype;
}

/**
 * C = op(A)·op(B) for row-major operands, through cuBLAS (column-major) by the usual swap: a row-major X with
 * row stride ld is, read column-major, Xᵀ with leading dimension ld. So Cᵀ = op(B)ᵀ·op(A)ᵀ is the column-major
 * product of B's storage (transposed when B is not) and A's storage (likewise), with m = N, n = M.
 */
export function gemmRowMajor(rt: Runtime, g: RowMajorGemm): void {
  const { M, N, K, batch } = g;
  const opFirst = g.b.transpose ? 1 : 0;
  const opSecond = g.a.transpose ? 1 : 0;
  rt.native.gemm(
    rt.ctx,
    g.dtype ?? DTYPE_F32,
    opFirst,
    opSecond,
    N,
    M,
    K,
    g.b.id,
    g.b.offset ?? 0,
    Math.max(1, g.b.ld),
    g.b.stride,
    g.a.id,
    g.a.offset ?? 0,
    Math.max(1, g.a.ld),
    g.a.stride,
    g.c.id,
    g.c.offset ?? 0,
    Math.max(1, g.c.ld),
    g.c.stride,
    batch,
    g.beta ?? 0,
  );
}
