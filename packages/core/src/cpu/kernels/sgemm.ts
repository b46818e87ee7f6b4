/**
 * Single-precision GEMM for the CPU reference backend, BLAS-style:
 *   C[M×N] = alpha · op(A)[M×K] · op(B)[K×N] + beta · C
 * with row-major operands addressed by offset and leading dimension, so callers can multiply blocks and
 * column slices of larger matrices in place (the BLAST forward multiplies column blocks of x this way).
 *
 * Speed comes from cache blocking (KC×NC panels of B, MC×KC panels of A, packed contiguously) and a 4×4
 * register micro-kernel; accumulation is in float64 (JS numbers), so results are at least as accurate as a
 * float32 BLAS. Thin products (M < 4) skip packing: they are memory-bound dot/axpy loops where packing
 * would double the traffic.
 */

const MR = 4;
const NR = 4;
const KC = 256;
const MC = 64;
const NC = 1024;

// Packing buffers reused across calls: no allocation on the hot path.
const packedA = new Float32Array(MC * KC);
const packedB = new Float32Array(KC * NC);
let rowScratch = new Float32Array(1024);

export interface GemmOperand {
  data: Float32Array;
  offset: number;
  /** Leading dimension: distance between consecutive rows of the stored (untransposed) matrix. */
  ld: number;
  /** Use the transpose of the stored matrix. */
  trans: boolean;
}

/** C = alpha·op(A)·op(B) + beta·C on strided row-major storage (see file comment). */
export function sgemm(
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: GemmOperand,
  B: GemmOperand,
  beta: number,
  C: Float32Array,
  offC: number,
  ldc: number,
): void {
  if (M === 0 || N === 0) return;
  if (beta !== 1) {
    for (let i = 0; i < M; i++) {
      const row = offC + i * ldc;
      if (beta === 0) C.fill(0, row, row + N);
      else for (let j = 0; j < N; j++) C[row + j] *= beta;
    }
  }
  if (K === 0 || alpha === 0) return;
  if (M < MR) {
    thinGemm(M, N, K, alpha, A, B, C, offC, ldc);
    return;
  }
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kc = Math.min(KC, K - k0);
    for (let j0 = 0; j0 < N; j0 += NC) {
      const nc = Math.min(NC, N - j0);
      packB(B, k0, kc, j0, nc);
      for (let i0 = 0; i0 < M; i0 += MC) {
        const mc = Math.min(MC, M - i0);
        packA(A, i0, mc, k0, kc);
        macroKernel(mc, nc, kc, alpha, C, offC + i0 * ldc + j0, ldc);
      }
    }
  }
}

/** Packs op(B)[k0:k0+kc, j0:j0+nc] into NR-wide column panels, k-major inside a panel, zero-padded. */
function packB(B: GemmOperand, k0: number, kc: number, j0: number, nc: number): void {
  const { data, offset, ld, trans } = B;
  for (let jp = 0; jp < nc; jp += NR) {
    const cols = Math.min(NR, nc - jp);
    let dst = jp * kc;
    for (let k = 0; k < kc; k++, dst += NR) {
      for (let c = 0; c < NR; c++) {
        if (c >= cols) {
          packedB[dst + c] = 0;
          continue;
        }
        const kk = k0 + k;
        const jj = j0 + jp + c;
        packedB[dst + c] = trans ? data[offset + jj * ld + kk] : data[offset + kk * ld + jj];
      }
    }
  }
}

/** Packs op(A)[i0:i0+mc, k0:k0+kc] into MR-tall row panels, k-major inside a panel, zero-padded. */
function packA(A: GemmOperand, i0: number, mc: number, k0: number, kc: number): void {
  const { data, offset, ld, trans } = A;
  for (let ip = 0; ip < mc; ip += MR) {
    const rows = Math.min(MR, mc - ip);
    const base = ip * kc;
    for (let r = 0; r < MR; r++) {
      if (r >= rows) {
        for (let k = 0; k < kc; k++) packedA[base + k * MR + r] = 0;
        continue;
      }
      const ii = i0 + ip + r;
      if (trans) {
        for (let k = 0; k < kc; k++) packedA[base + k * MR + r] = data[offset + (k0 + k) * ld + ii];
      } else {
        const src = offset + ii * ld + k0;
        for (let k = 0; k < kc; k++) packedA[base + k * MR + r] = data[src + k];
      }
    }
  }
}

// biome-ignore format: the 4×4 micro-kernel reads best one row of accumulators per line
function macroKernel(mc: number, nc: number, kc: number, alpha: number, C: Float32Array, offC: number, ldc: number) {
  for (let ip = 0; ip < mc; ip += MR) {
    const rows = Math.min(MR, mc - ip);
    for (let jp = 0; jp < nc; jp += NR) {
      const cols = Math.min(NR, nc - jp);
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      let pa = ip * kc;
      let pb = jp * kc;
      for (let k = 0; k < kc; k++, pa += MR, pb += NR) {
        const b0 = packedB[pb], b1 = packedB[pb + 1], b2 = packedB[pb + 2], b3 = packedB[pb + 3];
        let a = packedA[pa];
        c00 += a * b0; c01 += a * b1; c02 += a * b2; c03 += a * b3;
        a = packedA[pa + 1];
        c10 += a * b0; c11 += a * b1; c12 += a * b2; c13 += a * b3;
        a = packedA[pa + 2];
        c20 += a * b0; c21 += a * b1; c22 += a * b2; c23 += a * b3;
        a = packedA[pa + 3];
        c30 += a * b0; c31 += a * b1; c32 += a * b2; c33 += a * b3;
      }
      const o = offC + ip * ldc + jp;
      if (rows === MR && cols === NR) {
        let r = o;
        C[r] += alpha * c00; C[r + 1] += alpha * c01; C[r + 2] += alpha * c02; C[r + 3] += alpha * c03;
        r += ldc;
        C[r] += alpha * c10; C[r + 1] += alpha * c11; C[r + 2] += alpha * c12; C[r + 3] += alpha * c13;
        r += ldc;
        C[r] += alpha * c20; C[r + 1] += alpha * c21; C[r + 2] += alpha * c22; C[r + 3] += alpha * c23;
        r += ldc;
        C[r] += alpha * c30; C[r + 1] += alpha * c31; C[r + 2] += alpha * c32; C[r + 3] += alpha * c33;
      } else {
        const acc = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) C[o + r * ldc + c] += alpha * acc[r * NR + c];
      }
    }
  }
}

/**
 * M < 4: one dot product per output when op(B) rows are contiguous (B transposed: the x·Wᵀ of a linear layer),
 * otherwise an axpy over rows of B. op(A) rows are copied to a scratch row when A is transposed.
 */
function thinGemm(
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: GemmOperand,
  B: GemmOperand,
  C: Float32Array,
  offC: number,
  ldc: number,
) {
  if (rowScratch.length < K) rowScratch = new Float32Array(K);
  const bd = B.data;
  for (let i = 0; i < M; i++) {
    let a: Float32Array;
    let ao: number;
    if (A.trans) {
      for (let k = 0; k < K; k++) rowScratch[k] = A.data[A.offset + k * A.ld + i];
      a = rowScratch;
      ao = 0;
    } else {
      a = A.data;
      ao = A.offset + i * A.ld;
    }
    const crow = offC + i * ldc;
    if (B.trans) {
      for (let j = 0; j < N; j++) {
        const bo = B.offset + j * B.ld;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        let k = 0;
        for (; k + 4 <= K; k += 4) {
          s0 += a[ao + k] * bd[bo + k];
          s1 += a[ao + k + 1] * bd[bo + k + 1];
          s2 += a[ao + k + 2] * bd[bo + k + 2];
          s3 += a[ao + k + 3] * bd[bo + k + 3];
        }
        for (; k < K; k++) s0 += a[ao + k] * bd[bo + k];
        C[crow + j] += alpha * (s0 + s1 + s2 + s3);
      }
    } else {
      for (let k = 0; k < K; k++) {
        const av = alpha * a[ao + k];
        if (av === 0) continue;
        const bo = B.offset + k * B.ld;
        for (let j = 0; j < N; j++) C[crow + j] += av * bd[bo + j];
      }
    }
  }
}

/** Shorthand for an operand stored as a whole row-major matrix. */
export function operand(data: Float32Array, offset: number, ld: number, trans = false): GemmOperand {
  return { data, offset, ld, trans };
}
