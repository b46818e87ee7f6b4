import { describe, expect, it } from 'vitest';
import { operand, Rng, sgemm } from '../src/index.js';

/** Naive float64 GEMM on strided storage: the independent check for every blocking path. */
function naive(
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: Float32Array,
  lda: number,
  ta: boolean,
  B: Float32Array,
  ldb: number,
  tb: boolean,
  beta: number,
  C: Float32Array,
  ldc: number,
) {
  const out = C.slice();
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++)
        s += (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
      out[i * ldc + j] = alpha * s + beta * C[i * ldc + j];
    }
  }
  return out;
}

describe('sgemm', () => {
  const rng = new Rng(5);
  // sizes straddling the micro-tile (4), the A panel (64), the K block (256) and the thin path (M < 4)
  const sizes: [number, number, number][] = [
    [1, 1, 1],
    [1, 300, 17],
    [3, 7, 260],
    [4, 4, 4],
    [5, 9, 3],
    [65, 70, 257],
    [130, 33, 31],
  ];
  for (const [M, N, K] of sizes) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        it(`${M}×${N}×${K} ${ta ? 'Aᵀ' : 'A'}${tb ? 'Bᵀ' : 'B'} with padding, alpha and beta`, () => {
          const lda = (ta ? M : K) + 3;
          const ldb = (tb ? K : N) + 2;
          const ldc = N + 5;
          const A = rng.fillNormal(new Float32Array((ta ? K : M) * lda)) as Float32Array;
          const B = rng.fillNormal(new Float32Array((tb ? N : K) * ldb)) as Float32Array;
          const C = rng.fillNormal(new Float32Array(M * ldc)) as Float32Array;
          const want = naive(M, N, K, 0.75, A, lda, ta, B, ldb, tb, -0.5, C, ldc);
          sgemm(M, N, K, 0.75, operand(A, 0, lda, ta), operand(B, 0, ldb, tb), -0.5, C, 0, ldc);
          let maxErr = 0;
          let scale = 0;
          for (let i = 0; i < M; i++) {
            for (let j = 0; j < N; j++) {
              maxErr = Math.max(maxErr, Math.abs(C[i * ldc + j] - want[i * ldc + j]));
              scale = Math.max(scale, Math.abs(want[i * ldc + j]));
            }
            // the padding columns of C stay untouched
            for (let j = N; j < ldc; j++) expect(C[i * ldc + j]).toBe(Math.fround(want[i * ldc + j]));
          }
          expect(maxErr).toBeLessThanOrEqual(1e-5 * Math.max(1, scale));
        });
      }
    }
  }
});
