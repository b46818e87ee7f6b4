import {
  type Backend,
  CpuBackend,
  cpuKernels,
  formatShape,
  InvalidArgumentError,
  LowRankMatrix,
  ShapeError,
  Tensor,
} from '@blastkit/core';
import { validateTarget } from '../validate.js';

export interface SvdLlmResult {
  /** W ≈ W_u·W_v with W_u = U_k√Σ_k (d_out × k) and W_v = √Σ_k·V_kᵀ·S⁻¹, stored as LowRankMatrix(W_u, W_vᵀ). */
  matrix: LowRankMatrix;
  /**
   * What was added to the diagonal of XᵀX before its Cholesky factor existed: 0 when XᵀX was positive definite,
   * else SVD-LLM's −λ_min + 1e-6 (then doubled until the factorization succeeds in float64).
   */
  shift: number;
}

/**
 * SVD-LLM's truncation-aware whitening (Wang et al., ICLR 2025, `AIoT-MLSys-Lab/SVD-LLM`), the strongest
 * training-free low-rank baseline: with S the lower Cholesky factor of the calibration Gram XᵀX (X [N, n], one
 * input per row), take the truncated SVD W·S ≈ U_kΣ_kV_kᵀ and return U_kΣ_kV_kᵀ·S⁻¹. Because ‖(W − Ŵ)Xᵀ‖_F =
 * ‖(W − Ŵ)S‖_F, this is the rank-k matrix with the least output error on the calibration inputs.
 *
 * Numerics follow the published code: XᵀX and its factor in float64; when XᵀX is not positive definite
 * (fewer calibration tokens than inputs, or duplicates) its diagonal is shifted by −λ_min + 1e-6 before
 * factoring. Parameters: k(m + n), with the paper's k = ⌊ratio·mn/(m + n)⌋ — the low-rank rule
 * (`rankForRatio('low-rank', …)`). Directions the calibration inputs never visit are weighted ~1e-6, so
 * calibrate on at least n tokens.
 */
export async function svdLlmFactorize(
  W: Tensor,
  X: Tensor,
  rank: number,
  backend: Backend = new CpuBackend(),
): Promise<SvdLlmResult> {
  const [m, n] = validateTarget(W, 'SVD-LLM: weight');
  if (X.rank !== 2 || X.shape[1] !== n)
    throw new ShapeError(`SVD-LLM: calibration inputs have shape ${formatShape(X.shape)}, expected [N,${n}]`);
  validateTarget(X, 'SVD-LLM: calibration inputs');
  if (!Number.isInteger(rank) || rank < 1 || rank > Math.min(m, n))
    throw new InvalidArgumentError(
      `SVD-LLM: rank ${rank} must be an integer in [1, ${Math.min(m, n)}] for a ${m}×${n} weight`,
    );
  const gram = gramOf(X);
  // the published code's numerically safe Cholesky decides the shift; the whitening then uses SSᵀ = XᵀX + shift·I
  const { shift } = safeCholesky(gram, n);
  for (let a = 0; a < n; a++) gram[a * n + a] += shift;
  const { U, V } = await whitenedProjection(backend, W, gram, rank);
  return { matrix: new LowRankMatrix(U, V), shift };
}

/**
 * The rank-k truncation of W·S mapped back by S⁻¹ (SSᵀ = G), computed without S⁻¹: with W·S = UΣVᵀ,
 * U_kΣ_kV_kᵀS⁻¹ = U_kU_kᵀW, and U_k are the top eigenvectors of (WS)(WS)ᵀ = W·G·Wᵀ. The same matrix in exact
 * arithmetic, but the S⁻¹ route multiplies float32 rounding in V_k by cond(S), which on real activations
 * (stories15M's down_proj inputs) left the result worse than the plain SVD even on its own calibration data.
 * Returns U = U_k·√d and V = Wᵀ·U_k/√d (W ≈ UVᵀ), d_t = ‖W ᵀu_t‖, so both factors carry the same scale.
 */
export async function whitenedProjection(
  be: Backend,
  W: Tensor,
  G: Float64Array,
  k: number,
): Promise<{ U: Tensor; V: Tensor }> {
  const [m, n] = W.shape;
  const Wh = be.upload(W);
  const Gh = be.upload(new Tensor([n, n], Float32Array.from(G)));
  const WG = be.matmul(Wh, Gh);
  const M = be.matmul(WG, Wh, { transposeB: true }); // W·G·Wᵀ [m, m]
  const eig = be.eigh(M);
  const vectors = await be.download(eig.vectors);
  for (const h of [Wh, Gh, WG, M, eig.values, eig.vectors]) be.dispose(h);
  const U = new Tensor([m, k]);
  for (let t = 0; t < k; t++) {
    const src = m - 1 - t; // eigenvalues ascend
    for (let row = 0; row < m; row++) U.data[row * k + t] = vectors.data[row * m + src];
  }
  const V = cpuKernels.matmul(W, U, { transposeA: true }); // Wᵀ·U_k [n, k]
  for (let t = 0; t < k; t++) {
    let norm = 0;
    for (let col = 0; col < n; col++) norm += V.data[col * k + t] ** 2;
    const root = Math.sqrt(Math.sqrt(norm)) || 1;
    for (let row = 0; row < m; row++) U.data[row * k + t] *= root;
    for (let col = 0; col < n; col++) V.data[col * k + t] /= root;
  }
  return { U, V };
}

/** XᵀX in float64 (SVD-LLM accumulates it in double): [n, n] row-major. */
export function gramOf(X: Tensor): Float64Array {
  const [N, n] = X.shape;
  const x = X.data;
  const G = new Float64Array(n * n);
  // a chunk of tokens transposed (one row of GRAM_TOKENS per input dimension), then each entry of the lower
  // triangle as a dot product over the chunk, four entries at a time: four independent sums for the CPU to
  // overlap (2.2× the row-by-row update at n = 768). Each entry still adds its products in token order, so the
  // result is the plain loop's to the bit.
  const xt = new Float64Array(n * GRAM_TOKENS);
  for (let t0 = 0; t0 < N; t0 += GRAM_TOKENS) {
    const len = Math.min(GRAM_TOKENS, N - t0);
    for (let k = 0; k < len; k++) {
      const row = (t0 + k) * n;
      for (let a = 0; a < n; a++) xt[a * GRAM_TOKENS + k] = x[row + a];
    }
    for (let a = 0; a < n; a++) {
      const ra = a * GRAM_TOKENS;
      const g = a * n;
      let c = 0;
      for (; c + 3 <= a; c += 4) {
        const r0 = c * GRAM_TOKENS;
        const r1 = r0 + GRAM_TOKENS;
        const r2 = r1 + GRAM_TOKENS;
        const r3 = r2 + GRAM_TOKENS;
        let s0 = G[g + c];
        let s1 = G[g + c + 1];
        let s2 = G[g + c + 2];
        let s3 = G[g + c + 3];
        for (let k = 0; k < len; k++) {
          const xa = xt[ra + k];
          s0 += xa * xt[r0 + k];
          s1 += xa * xt[r1 + k];
          s2 += xa * xt[r2 + k];
          s3 += xa * xt[r3 + k];
        }
        G[g + c] = s0;
        G[g + c + 1] = s1;
        G[g + c + 2] = s2;
        G[g + c + 3] = s3;
      }
      for (; c <= a; c++) {
        const rc = c * GRAM_TOKENS;
        let sum = G[g + c];
        for (let k = 0; k < len; k++) sum += xt[ra + k] * xt[rc + k];
        G[g + c] = sum;
      }
    }
  }
  for (let a = 0; a < n; a++) for (let c = 0; c < a; c++) G[c * n + a] = G[a * n + c];
  return G;
}

/** Tokens per chunk of gramOf: a 768-wide input's chunk is 768 KB, within a core's L2. */
const GRAM_TOKENS = 128;

/**
 * The lower Cholesky factor of the symmetric G [n, n] in float64, with SVD-LLM's fallback when G is not
 * positive definite: shift the diagonal by −λ_min + 1e-6 (and, should rounding still defeat it, double the
 * shift until the factorization succeeds).
 */
export function safeCholesky(G: Float64Array, n: number): { factor: Float64Array; shift: number } {
  let shift = 0;
  for (let attempt = 0; attempt < 60; attempt++) {
    const L = Float64Array.from(G);
    for (let i = 0; i < n; i++) L[i * n + i] += shift;
    if (choleskyInPlace(L, n)) return { factor: L, shift };
    if (attempt === 0) {
      const { values } = cpuKernels.eigh(new Tensor([n, n], Float32Array.from(G)));
      shift = -Math.min(values.data[0], 0) + 1e-6;
    } else shift *= 2;
  }
  throw new InvalidArgumentError('SVD-LLM: the calibration Gram matrix has no Cholesky factor (NaN inputs?)');
}

/** In place: G → its lower factor L (upper triangle zeroed). false when a pivot is not positive. */
function choleskyInPlace(a: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let pivot = a[rj + j];
    for (let k = 0; k < j; k++) pivot -= a[rj + k] * a[rj + k];
    if (!(pivot > 0) || pivot === Number.POSITIVE_INFINITY) return false;
    const d = Math.sqrt(pivot);
    a[rj + j] = d;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s = a[ri + j];
      for (let k = 0; k < j; k++) s -= a[ri + k] * a[rj + k];
      a[ri + j] = s / d;
    }
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) a[i * n + j] = 0;
  return true;
}
