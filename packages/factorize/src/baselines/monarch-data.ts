import {
  cpuKernels,
  formatShape,
  InvalidArgumentError,
  MonarchMatrix,
  ShapeError,
  Tensor,
} from '@blastkit/core';
import { throwIfAborted, validateTarget } from '../validate.js';
import { gramOf, safeCholesky } from './svd-llm.js';

export interface MonarchDataOptions {
  /** Blocks per side b (divides both sides). */
  numBlocks: number;
  /** Per-block rank r′ (Monarch keeps b·r′(m + n) parameters). */
  rank: number;
  /** Calibration inputs X [N, n], one input per row. */
  inputs: Tensor;
  /** Alternating sweeps after the whitened start (default 6; 0 keeps the block-whitened start). */
  steps?: number;
  /** Σ + damping·mean(diag Σ)·I replaces Σ = XᵀX (default max(0.01, n/N), as data-aware BLAST). */
  damping?: number;
  signal?: AbortSignal;
}

export interface MonarchDataFactorization {
  matrix: MonarchMatrix;
  /** ‖(A − Â)Xᵀ‖_F / ‖A·Xᵀ‖_F on the calibration inputs (undamped). */
  outputError: number;
  /** The damped weighted objective ‖(A − Â)S‖² after the start and after each sweep (never increases after the start). */
  objective: number[];
}

/**
 * Data-aware Monarch: minimises ‖(A − Â)S‖_F² = tr(E·G·Eᵀ) (E = A − Â, G = SSᵀ the damped calibration Gram,
 * the same G data-aware BLAST fits) over Monarch matrices, block (i, j) of Â being L_ij·R_ji of rank r′.
 *
 * Whitening the whole of A (A·S, factorize, ·S⁻¹) as SVD-LLM does would leave Monarch: S⁻¹ mixes column blocks.
 * So the start whitens per column block instead — block (i, j) is the rank-r′ truncation of A_ij·S_j with
 * S_jS_jᵀ = G_jj (SVD-LLM's numerically safe Cholesky), mapped back by S_j⁻¹: exact for the block-diagonal part
 * of G — and alternating exact minimisations then bring in the cross-block covariance G_jk:
 * - L: for row block i, Â_i = L_i·Z_i with Z_i = blockdiag(R_1i … R_bi), so L_i = (A_i G Z_iᵀ)(Z_i G Z_iᵀ)⁻¹;
 * - R: block by block (Gauss–Seidel), R_ji += (L_ijᵀL_ij)⁻¹·L_ijᵀ·(E_i G)_j·G_jj⁻¹, the exact minimiser with the
 *   other blocks fixed, and E_i·G updated in place.
 * Every update minimises f exactly over its block, so f never increases after the start. Float64 throughout.
 */
export function monarchDataAware(A: Tensor, options: MonarchDataOptions): MonarchDataFactorization {
  const [m, n] = validateTarget(A, 'data-aware Monarch: weight');
  const { numBlocks: b, rank: rp, inputs: X } = options;
  if (!Number.isInteger(b) || b <= 0 || m % b !== 0 || n % b !== 0)
    throw new InvalidArgumentError(`data-aware Monarch: ${b} blocks must divide both sides of ${m}×${n}`);
  const p = m / b;
  const q = n / b;
  if (!Number.isInteger(rp) || rp < 1 || rp > Math.min(p, q))
    throw new InvalidArgumentError(
      `data-aware Monarch: block rank ${rp} must be an integer in [1, ${Math.min(p, q)}] for ${p}×${q} blocks`,
    );
  if (X.rank !== 2 || X.shape[1] !== n)
    throw new ShapeError(`data-aware Monarch: inputs have shape ${formatShape(X.shape)}, expected [N,${n}]`);
  validateTarget(X, 'data-aware Monarch: inputs');
  const N = X.shape[0];
  const steps = options.steps ?? 6;
  const damping = options.damping ?? Math.max(0.01, n / N);
  if (!(damping >= 0)) throw new InvalidArgumentError(`data-aware Monarch: damping ${damping} must be ≥ 0`);

  const G0 = gramOf(X);
  let trace = 0;
  for (let a = 0; a < n; a++) trace += G0[a * n + a];
  if (!(trace > 0)) throw new InvalidArgumentError('data-aware Monarch: the calibration inputs are all zero');
  // the scale of G does not move the minimiser; this one makes the damping mean what it means in blast-data
  const G = new Float64Array(n * n);
  for (let k = 0; k < n * n; k++) G[k] = (G0[k] * n) / trace;
  for (let a = 0; a < n; a++) G[a * n + a] += damping;

  const br = b * rp;
  const L = new Float64Array(b * p * br); // [b, p, b·r′]
  const R = new Float64Array(b * br * q); // [b, b·r′, q]
  const Ld = (i: number, row: number, j: number, k: number) => (i * p + row) * br + j * rp + k;
  const Rd = (j: number, i: number, k: number, col: number) => (j * br + i * rp + k) * q + col;

  // per column block: G_jj and its Cholesky factor S_j (lower)
  const Gjj: Float64Array[] = [];
  const Sj: Float64Array[] = [];
  for (let j = 0; j < b; j++) {
    const g = new Float64Array(q * q);
    for (let a = 0; a < q; a++) for (let c = 0; c < q; c++) g[a * q + c] = G[(j * q + a) * n + j * q + c];
    Gjj.push(g);
    const { factor, shift } = safeCholesky(g, q);
    if (shift > 0) for (let a = 0; a < q; a++) g[a * q + a] += shift;
    Sj.push(factor);
  }

  // start: block (i, j) = rank-r′ truncation of A_ij·S_j, mapped back by S_j⁻¹
  const block = new Tensor([p, q]);
  for (let i = 0; i < b; i++)
    for (let j = 0; j < b; j++) {
      const S = Sj[j];
      for (let row = 0; row < p; row++)
        for (let c = 0; c < q; c++) {
          let s = 0;
          const arow = (i * p + row) * n + j * q;
          for (let a = c; a < q; a++) s += A.data[arow + a] * S[a * q + c];
          block.data[row * q + c] = s;
        }
      const svd = cpuKernels.truncatedSvd(block, rp);
      const v = new Float64Array(q);
      for (let k = 0; k < rp; k++) {
        const root = Math.sqrt(Math.max(svd.S.data[k], 0));
        for (let row = 0; row < p; row++) L[Ld(i, row, j, k)] = svd.U.data[row * rp + k] * root;
        // R_ji[k] = √σ_k v_kᵀ S_j⁻¹: solve S_jᵀ x = √σ_k v_k (S_jᵀ upper triangular)
        for (let c = 0; c < q; c++) v[c] = svd.V.data[c * rp + k] * root;
        for (let a = q - 1; a >= 0; a--) {
          let s = v[a];
          for (let c = a + 1; c < q; c++) s -= S[c * q + a] * R[Rd(j, i, k, c)];
          R[Rd(j, i, k, a)] = s / S[a * q + a];
        }
      }
    }

  // E = A − Â, by row block
  const E = new Float64Array(m * n);
  const refreshResidual = () => {
    for (let i = 0; i < b; i++)
      for (let row = 0; row < p; row++) {
        const r0 = (i * p + row) * n;
        for (let j = 0; j < b; j++)
          for (let c = 0; c < q; c++) {
            let s = 0;
            for (let k = 0; k < rp; k++) s += L[Ld(i, row, j, k)] * R[Rd(j, i, k, c)];
            E[r0 + j * q + c] = A.data[r0 + j * q + c] - s;
          }
      }
  };
  // Q = E·G (rows of one row block at a time)
  const times = (M: Float64Array, rows: number, W: Float64Array, out: Float64Array) => {
    out.fill(0);
    for (let r = 0; r < rows; r++)
      for (let a = 0; a < n; a++) {
        const x = M[r * n + a];
        if (x === 0) continue;
        const ga = a * n;
        const o = r * n;
        for (let c = 0; c < n; c++) out[o + c] += x * W[ga + c];
      }
    return out;
  };
  const weighted = (W: Float64Array) => {
    // tr(E·W·Eᵀ)
    const Q = new Float64Array(p * n);
    let f = 0;
    for (let i = 0; i < b; i++) {
      times(E.subarray(i * p * n, (i + 1) * p * n), p, W, Q);
      for (let k = 0; k < p * n; k++) f += Q[k] * E[i * p * n + k];
    }
    return f;
  };
  refreshResidual();
  const objective = [weighted(G)];

  const Ei = new Float64Array(p * n);
  const Q = new Float64Array(p * n);
  const Wz = new Float64Array(br * n);
  const H = new Float64Array(br * br);
  const rhs = new Float64Array(p * br);
  for (let step = 0; step < steps; step++) {
    throwIfAborted(options.signal);
    // L-step: L_i = (A_i G Z_iᵀ)(Z_i G Z_iᵀ)⁻¹ per row block
    for (let i = 0; i < b; i++) {
      Wz.fill(0); // Z_i·G [b·r′, n]
      for (let j = 0; j < b; j++)
        for (let k = 0; k < rp; k++) {
          const o = (j * rp + k) * n;
          for (let c = 0; c < q; c++) {
            const x = R[Rd(j, i, k, c)];
            if (x === 0) continue;
            const g = (j * q + c) * n;
            for (let a = 0; a < n; a++) Wz[o + a] += x * G[g + a];
          }
        }
      for (let u = 0; u < br; u++) {
        const j2 = Math.floor(u / rp);
        const k2 = u % rp;
        for (let t = 0; t < br; t++) {
          // H[t, u] = Σ_c (Z_i G)[t, j2·q + c]·R[j2, i, k2, c]
          let s = 0;
          for (let c = 0; c < q; c++) s += Wz[t * n + j2 * q + c] * R[Rd(j2, i, k2, c)];
          H[t * br + u] = s;
        }
      }
      for (let row = 0; row < p; row++) {
        const arow = (i * p + row) * n;
        for (let t = 0; t < br; t++) {
          let s = 0;
          for (let a = 0; a < n; a++) s += A.data[arow + a] * Wz[t * n + a];
          rhs[row * br + t] = s;
        }
      }
      const solved = solveSpd(H, br, rhs, p);
      for (let row = 0; row < p; row++)
        for (let t = 0; t < br; t++) L[(i * p + row) * br + t] = solved[row * br + t];
    }
    refreshResidual();
    // R-step: Gauss–Seidel over the blocks of each row block, with E_i·G kept current
    for (let i = 0; i < b; i++) {
      Ei.set(E.subarray(i * p * n, (i + 1) * p * n));
      times(Ei, p, G, Q);
      for (let j = 0; j < b; j++) {
        // Y = L_ijᵀ·Q_i[:, j] [r′, q], then Y·G_jj⁻¹ and (L_ijᵀL_ij)⁻¹·(…)
        const Y = new Float64Array(rp * q);
        const LtL = new Float64Array(rp * rp);
        for (let row = 0; row < p; row++) {
          for (let k = 0; k < rp; k++) {
            const l = L[Ld(i, row, j, k)];
            for (let c = 0; c < q; c++) Y[k * q + c] += l * Q[row * n + j * q + c];
            for (let k2 = 0; k2 < rp; k2++) LtL[k * rp + k2] += l * L[Ld(i, row, j, k2)];
          }
        }
        const YG = solveSpd(Gjj[j], q, Y, rp); // rows of Y·G_jj⁻¹ (G_jj symmetric)
        const YGt = new Float64Array(q * rp); // solve LtL·Δ = YG column by column: Δᵀ rows
        for (let k = 0; k < rp; k++) for (let c = 0; c < q; c++) YGt[c * rp + k] = YG[k * q + c];
        const Dt = solveSpd(LtL, rp, YGt, q); // Δᵀ [q, r′]
        // D = L_ij·Δ [p, q]: E_i[:, j] −= D, Q_i −= D·G[j rows, :]
        const D = new Float64Array(p * q);
        for (let row = 0; row < p; row++)
          for (let c = 0; c < q; c++) {
            let s = 0;
            for (let k = 0; k < rp; k++) s += L[Ld(i, row, j, k)] * Dt[c * rp + k];
            D[row * q + c] = s;
          }
        for (let k = 0; k < rp; k++) for (let c = 0; c < q; c++) R[Rd(j, i, k, c)] += Dt[c * rp + k];
        for (let row = 0; row < p; row++)
          for (let c = 0; c < q; c++) {
            const d = D[row * q + c];
            if (d === 0) continue;
            E[(i * p + row) * n + j * q + c] -= d;
            const g = (j * q + c) * n;
            const o = row * n;
            for (let a = 0; a < n; a++) Q[o + a] -= d * G[g + a];
          }
      }
    }
    objective.push(weighted(G));
  }
  refreshResidual();
  const denom = (() => {
    const Asave = Float64Array.from(E);
    for (let k = 0; k < m * n; k++) E[k] = A.data[k];
    const t = weighted(G0);
    E.set(Asave);
    return t;
  })();
  const outputError = denom > 0 ? Math.sqrt(Math.max(weighted(G0), 0) / denom) : 0;
  return {
    matrix: new MonarchMatrix(
      new Tensor([b, p, br], Float32Array.from(L)),
      new Tensor([b, br, q], Float32Array.from(R)),
    ),
    outputError,
    objective,
  };
}

/**
 * X·M⁻¹ for `rows` right-hand sides stored as rows of B [rows, k], M [k, k] symmetric positive semi-definite:
 * Cholesky with a ridge of 1e-12·trace (then doubled while a pivot fails), so rank-deficient factors still solve.
 */
function solveSpd(M: Float64Array, k: number, B: Float64Array, rows: number): Float64Array {
  let trace = 0;
  for (let a = 0; a < k; a++) trace += M[a * k + a];
  let ridge = 1e-12 * (trace / k || 1);
  for (let attempt = 0; attempt < 40; attempt++, ridge *= 10) {
    const C = Float64Array.from(M);
    for (let a = 0; a < k; a++) C[a * k + a] += ridge;
    let ok = true;
    for (let j = 0; j < k && ok; j++) {
      let pivot = C[j * k + j];
      for (let t = 0; t < j; t++) pivot -= C[j * k + t] ** 2;
      if (!(pivot > 0)) {
        ok = false;
        break;
      }
      const d = Math.sqrt(pivot);
      C[j * k + j] = d;
      for (let i = j + 1; i < k; i++) {
        let s = C[i * k + j];
        for (let t = 0; t < j; t++) s -= C[i * k + t] * C[j * k + t];
        C[i * k + j] = s / d;
      }
    }
    if (!ok) continue;
    const out = new Float64Array(rows * k);
    const y = new Float64Array(k);
    for (let r = 0; r < rows; r++) {
      for (let a = 0; a < k; a++) {
        let s = B[r * k + a];
        for (let t = 0; t < a; t++) s -= C[a * k + t] * y[t];
        y[a] = s / C[a * k + a];
      }
      for (let a = k - 1; a >= 0; a--) {
        let s = y[a];
        for (let t = a + 1; t < k; t++) s -= C[t * k + a] * out[r * k + t];
        out[r * k + a] = s / C[a * k + a];
      }
    }
    return out;
  }
  throw new InvalidArgumentError(
    'data-aware Monarch: a normal-equation system has no Cholesky factor (NaN?)',
  );
}
