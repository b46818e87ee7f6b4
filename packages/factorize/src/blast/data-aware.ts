import {
  type Backend,
  type BackendTensor,
  CpuBackend,
  cpuKernels,
  formatShape,
  InvalidArgumentError,
  relativeFrobeniusError,
  ShapeError,
  Tensor,
} from '@blastkit/core';
import { gramOf, whitenedProjection } from '../baselines/svd-llm.js';
import { throwIfAborted, validateBlastShape, validateTarget } from '../validate.js';
import { BLAST_FAST_DEFAULTS, type BlastFastOptions, blastFast } from './fast.js';
import { systemForC, systemForS, systemForU } from './gradients.js';
import type { BlastFactorization } from './precgd.js';
import { finishFactors } from './renormalize.js';
import { normalizeTarget, referenceInit } from './setup.js';
import { BlastWorkspace } from './workspace.js';

export interface DataAwareOptions extends BlastFastOptions {
  /** Calibration inputs X [N, n] (rows are the layer's input vectors). */
  inputs: Tensor;
  /**
   * 'full' (default): minimise ‖(A − Â)Xᵀ‖ with the whole input covariance. 'block-diagonal': the earlier
   * method, which keeps only the covariance inside each column block and ignores correlation across blocks.
   */
  covariance?: 'full' | 'block-diagonal';
  /**
   * 'full' only: Σ + damping·mean(diag Σ)·I replaces Σ = XᵀX/N (default max(0.01, n/N); 0.01 is GPTQ's
   * dampening). It keeps the fit from overfitting directions the calibration inputs barely sample, leaning
   * towards the weight error there: on stories15M with 512 calibration tokens, damping 0.1 fitted the
   * calibration inputs 3× better than damping 1 yet did worse on held-out text.
   */
  damping?: number;
  /**
   * 'full' only: where the solver starts — 'block-diagonal' (default): the block-diagonal-covariance fit, run
   * with the same options; 'whitened': the weighted rank-r low-rank optimum (SVD-LLM's solution), s = 1.
   */
  start?: 'block-diagonal' | 'whitened';
  /** 'full' only: each factor step is relax × its exact line-search length (default 1; in (0, 2)). */
  relax?: number;
  /** 'block-diagonal' only: eigenvalues of each covariance block below this fraction of its largest are clamped (default 1e-6). */
  floor?: number;
}

export interface DataAwareFactorization extends BlastFactorization {
  /** ‖(A − Â)Xᵀ‖_F / ‖A·Xᵀ‖_F on the calibration inputs: the error the layer's outputs see. */
  outputError: number;
}

/**
 * Data-aware BLAST: minimises the error of the layer's outputs on calibration inputs, ‖(A − Â)Xᵀ‖_F, instead of
 * ‖A − Â‖_F — with the full input covariance by default (see `fullCovariance` below), or with only its
 * block-diagonal part (`covariance: 'block-diagonal'`, the earlier method).
 */
export async function blastDataAware(A: Tensor, options: DataAwareOptions): Promise<DataAwareFactorization> {
  const [m, n] = validateTarget(A);
  const { numBlocks: b, inputs: X } = options;
  validateBlastShape(m, n, b, options.rank);
  if (X.rank !== 2 || X.shape[1] !== n)
    throw new ShapeError(`data-aware BLAST: inputs have shape ${formatShape(X.shape)}, expected [N,${n}]`);
  validateTarget(X, 'data-aware BLAST: inputs');
  if (X.shape[0] < 1)
    throw new InvalidArgumentError('data-aware BLAST: needs at least one calibration input');
  const covariance = options.covariance ?? 'full';
  if (covariance === 'full') return fullCovariance(A, options);
  if (covariance === 'block-diagonal') return blockDiagonal(A, options);
  throw new InvalidArgumentError(
    `data-aware BLAST: covariance '${covariance}' is not one of 'full', 'block-diagonal'`,
  );
}

/**
 * Full covariance: minimise f = ‖(A − Â)S‖² = tr(E·G·Eᵀ), E = A − Â, G = SSᵀ = XᵀX/N (damped). Whitening A·S,
 * factorizing and multiplying back by S⁻¹ would not do: S⁻¹ mixes column blocks, so the result is no longer
 * BLAST. Instead the solver works on f directly. With R = E·G (−½ of f's gradient in Â) each factor update is:
 * - direction: R's correlation with the other factors (systemFor*(R)), preconditioned by the r×r system of the
 *   block-diagonal part of G — U_i: Σ_j (C_j G_jj C_jᵀ) ⊙ (s_ij s_ijᵀ); V_j: (Σ_i (U_iᵀU_i) ⊙ (s_ij s_ijᵀ)) on
 *   the left and G_jj on the right (exactly the V_j-diagonal block of f's Hessian, M_j ⊗ G_jj); s_ij:
 *   (U_iᵀU_i) ⊙ (C_j G_jj C_jᵀ). These are the exact block-Jacobi steps; the blocks G_jk (j ≠ k) enter through R.
 * - length: f is quadratic along any one factor's direction d, with ΔÂ = Â(d) linear in d, so the exact line
 *   search α = ⟨R, ΔÂ⟩ / ⟨ΔÂ·G, ΔÂ⟩ makes every update lower f (no step can overshoot, whatever the
 *   cross-block coupling); E and R are then updated in place, E −= αΔÂ, R −= αΔÂ·G, so a step costs three
 *   m·n² products and no recomputation of Â (it is recomputed every 10 steps against drift).
 * The start is the weighted low-rank optimum of rank r (SVD-LLM's solution, A·S truncated, then ·S⁻¹) with s = 1.
 */
async function fullCovariance(A: Tensor, options: DataAwareOptions): Promise<DataAwareFactorization> {
  const [m, n] = A.shape;
  const { numBlocks: b, rank: r, inputs: X } = options;
  const p = m / b;
  const q = n / b;
  const T = options.steps ?? BLAST_FAST_DEFAULTS.steps;
  const delta = options.delta ?? BLAST_FAST_DEFAULTS.delta;
  const tolerance = options.tolerance ?? BLAST_FAST_DEFAULTS.tolerance;
  // shrink harder the fewer calibration tokens there are per input dimension: n/N was the best held-out
  // choice on stories15M (N = 512 and 4096 tokens, n = 288 and 768), floored at GPTQ's 0.01
  const damping = options.damping ?? Math.max(0.01, n / X.shape[0]);
  const relax = options.relax ?? 1;
  if (!(damping >= 0)) throw new InvalidArgumentError(`data-aware BLAST: damping ${damping} must be ≥ 0`);
  if (!(relax > 0 && relax < 2))
    throw new InvalidArgumentError(`data-aware BLAST: relax ${relax} must be in (0, 2)`);
  const be = options.backend ?? new CpuBackend();
  const start = performance.now();

  // G = Σ/mean(diag Σ) + damping·I: the scale of G does not change the minimiser, and this one makes f
  // comparable to ‖A‖² (so the solver's ridge δ·√f means what it means in blastFast)
  const G = gramOf(X);
  let trace = 0;
  for (let a = 0; a < n; a++) trace += G[a * n + a];
  if (!(trace > 0)) throw new InvalidArgumentError('data-aware BLAST: the calibration inputs are all zero');
  const unit = n / trace;
  for (let k = 0; k < n * n; k++) G[k] *= unit;
  for (let a = 0; a < n; a++) G[a * n + a] += damping;

  const { sigma, normalized } = normalizeTarget(A);
  let init: { B: Tensor; C: Tensor; D: Tensor };
  if ((options.start ?? 'block-diagonal') === 'block-diagonal') {
    // the block-diagonal fit is already close (and cheap): the full covariance then only has to correct it
    const first = (await blockDiagonalFit(A, options)).matrix;
    const D = first.D;
    init = {
      B: first.B,
      C: first.C,
      D: new Tensor(
        D.shape,
        D.data.map((v) => v / sigma),
      ),
    };
  } else init = await weightedLowRankStart(be, normalized, G, b, r, options.seed ?? 0);

  const ws = new BlastWorkspace(be, m, n, b, r);
  const Gh = be.upload(new Tensor([n, n], Float32Array.from(G)));
  const Gdiag = new Tensor([b, q, q]);
  for (let j = 0; j < b; j++)
    for (let a = 0; a < q; a++)
      for (let c = 0; c < q; c++) Gdiag.data[(j * q + a) * q + c] = G[(j * q + a) * n + j * q + c];
  const Gjj = be.upload(Gdiag);
  const Ah = be.upload(normalized);
  let B = be.upload(init.B);
  let C = be.upload(init.C);
  let D = be.upload(init.D);
  let E = Ah;
  let R = Ah;
  const persistent = () => [Gh, Gjj, Ah, B, C, D, E, R];
  const dense = (blocks: BackendTensor) =>
    ws.t(be.reshape(ws.t(be.transpose(be.reshape(blocks, [b, b, p, q]), [0, 2, 1, 3])), [m, n]));
  const sum = async (x: BackendTensor) => (await be.download(ws.t(be.reduce(x, 'sum')))).data[0];
  const eye = Tensor.eye(r);
  const ridge = (eps: number) =>
    ws.t(
      be.upload(
        new Tensor(
          [r, r],
          eye.data.map((v) => v * eps),
        ),
      ),
    );
  /** E = A − Â and R = E·G from the factors. */
  const refresh = () => {
    const nextE = be.sub(Ah, dense(ws.reconstructBlocks(B, C, D)));
    const nextR = be.matmul(nextE, Gh);
    if (E !== Ah) be.dispose(E);
    if (R !== Ah) be.dispose(R);
    E = nextE;
    R = nextR;
  };
  /** F + relax·α·d with the exact line search along d; ΔÂ = the change of Â per unit of d. */
  const move = async (F: BackendTensor, d: BackendTensor, deltaA: BackendTensor) => {
    const deltaR = ws.t(be.matmul(deltaA, Gh));
    const along = await sum(ws.t(be.mul(R, deltaA)));
    const curvature = await sum(ws.t(be.mul(deltaR, deltaA)));
    if (!(curvature > 0) || !(along > 0)) return F;
    const alpha = (relax * along) / curvature;
    const nextE = be.sub(E, ws.t(be.scale(deltaA, alpha)));
    const nextR = be.sub(R, ws.t(be.scale(deltaR, alpha)));
    be.dispose(E);
    be.dispose(R);
    E = nextE;
    R = nextR;
    const next = be.add(F, ws.t(be.scale(d, alpha)));
    be.dispose(F);
    return next;
  };

  const history: BlastFactorization['history'] = [];
  let steps = 0;
  try {
    refresh();
    const normAS2 = await sum(ws.t(be.mul(Ah, ws.t(be.matmul(Ah, Gh)))));
    let loss = await sum(ws.t(be.mul(E, R)));
    ws.release(...persistent());
    const recent: number[] = [];
    for (let t = 0; t < T; t++) {
      throwIfAborted(options.signal);
      if (t > 0 && t % 10 === 0) refresh();
      const eps = delta * Math.sqrt(Math.max(loss, 0));
      // U_i
      let CGC = ws.t(be.matmul(ws.t(be.matmul(C, Gjj)), C, { transposeB: true }));
      const u = systemForU(ws, ws.toBlocks(R), C, D, CGC);
      const dB = ws.solveRight(ws.t(be.add(u.gram, ridge(eps))), u.rhs);
      B = await move(B, dB, dense(ws.reconstructBlocks(dB, C, D)));
      ws.release(...persistent());
      // V_j: (M_j + εI)⁻¹ · rhs_j · G_jj⁻¹
      const v = systemForC(ws, ws.toBlocks(R), B, D);
      const left = ws.t(be.choleskySolve(ws.t(be.add(v.gram, ridge(eps))), v.rhs));
      const dC = ws.solveRight(Gjj, left);
      C = await move(C, dC, dense(ws.reconstructBlocks(B, dC, D)));
      ws.release(...persistent());
      // s_ij
      CGC = ws.t(be.matmul(ws.t(be.matmul(C, Gjj)), C, { transposeB: true }));
      const s = systemForS(ws, ws.toBlocks(R), B, C, CGC);
      const dS = ws.t(be.reshape(ws.t(be.choleskySolve(ws.t(be.add(s.gram, ridge(eps))), s.rhs)), [b, b, r]));
      D = await move(D, dS, dense(ws.reconstructBlocks(B, C, dS)));
      loss = await sum(ws.t(be.mul(E, R)));
      ws.release(...persistent());
      steps = t + 1;
      const relativeError = Math.sqrt(Math.max(loss, 0) / normAS2);
      const seconds = (performance.now() - start) / 1000;
      history.push({ step: steps, relativeError, seconds });
      options.onProgress?.({ step: steps, totalSteps: T, relativeError, seconds });
      if (options.targetError !== undefined && relativeError <= options.targetError) break;
      if (tolerance <= 0) continue;
      recent.push(relativeError);
      if (recent.length > 10) {
        const old = recent.shift() as number;
        if ((old - relativeError) / old < tolerance) break;
      }
    }
    const matrix = finishFactors(await be.download(B), await be.download(C), await be.download(D), sigma);
    const approx = matrix.toDense();
    return {
      matrix,
      relativeError: relativeFrobeniusError(approx, A),
      outputError: await outputErrorOn(be, approx, A, X),
      seconds: (performance.now() - start) / 1000,
      steps,
      history,
    };
  } finally {
    ws.close();
    for (const h of new Set(persistent())) be.dispose(h);
  }
}

/**
 * BLAST factors of the rank-min(r, m, n) matrix with the least ‖(A − Â)S‖ (SSᵀ = G), SVD-LLM's solution
 * (`whitenedProjection`), cut into blocks, s = 1.
 */
async function weightedLowRankStart(
  be: Backend,
  A: Tensor,
  G: Float64Array,
  b: number,
  r: number,
  seed: number,
) {
  const [m, n] = A.shape;
  const k = Math.min(r, m, n);
  const { U, V } = await whitenedProjection(be, A, G, k);
  const extra = referenceInit(m, n, b, r, seed);
  const p = m / b;
  const q = n / b;
  const { B, C } = extra;
  for (let t = 0; t < k; t++) {
    for (let row = 0; row < m; row++)
      B.data[(Math.floor(row / p) * p + (row % p)) * r + t] = U.data[row * k + t];
    for (let col = 0; col < n; col++)
      C.data[(Math.floor(col / q) * r + t) * q + (col % q)] = V.data[col * k + t];
  }
  return { B, C, D: Tensor.filled([b, b, r], 1) };
}

/**
 * Block-diagonal covariance (the earlier method): only Σ_jj = X_jᵀX_j/N. With Σ_jj = L_j L_jᵀ, a column block's
 * error ‖(A − Â)_{:,j} L_j‖ is a plain Frobenius error of BLAST factors whose V-side is C_j·L_j, so the target
 * A·diag(L_j) is factorized with the fast solver and C_j = C′_j·L_j⁻¹ maps the result back — exact for the
 * block-diagonal weighting; correlation across column blocks is ignored.
 */
async function blockDiagonal(A: Tensor, options: DataAwareOptions): Promise<DataAwareFactorization> {
  const fit = await blockDiagonalFit(A, options);
  const approx = fit.matrix.toDense();
  const outputError = await outputErrorOn(options.backend ?? new CpuBackend(), approx, A, options.inputs);
  // C was mapped back in place, so fit.matrix is the final factorization; fit.history tracks the weighted error
  return { ...fit, relativeError: relativeFrobeniusError(approx, A), outputError };
}

/** The block-diagonal factorization alone: what the full-covariance fit starts from, without the error figures. */
async function blockDiagonalFit(A: Tensor, options: DataAwareOptions): Promise<BlastFactorization> {
  const [m, n] = A.shape;
  const { numBlocks: b, inputs: X } = options;
  const q = n / b;
  const floor = options.floor ?? 1e-6;
  const N = X.shape[0];

  // per column block j: Σ_jj = Q Λ Qᵀ, L_j = Q Λ^½ (L_j L_jᵀ = Σ_jj), L_j⁻¹ = Λ^-½ Qᵀ
  const L: Tensor[] = [];
  const Linv: Tensor[] = [];
  for (let j = 0; j < b; j++) {
    const Xj = cpuKernels.slice(X, [0, j * q], [N, q]);
    const cov = cpuKernels.scale(cpuKernels.matmul(Xj, Xj, { transposeA: true }), 1 / N);
    const { values, vectors } = cpuKernels.eigh(cov);
    const top = Math.max(values.data[q - 1], 0);
    if (!(top > 0))
      throw new InvalidArgumentError(
        `data-aware BLAST: the calibration inputs are all zero on input block ${j}`,
      );
    const Lj = new Tensor([q, q]);
    const Lij = new Tensor([q, q]);
    for (let k = 0; k < q; k++) {
      const lambda = Math.max(values.data[k], floor * top);
      const root = Math.sqrt(lambda);
      for (let row = 0; row < q; row++) {
        Lj.data[row * q + k] = vectors.data[row * q + k] * root;
        Lij.data[k * q + row] = vectors.data[row * q + k] / root;
      }
    }
    L.push(Lj);
    Linv.push(Lij);
  }
  const weighted = new Tensor([m, n]);
  for (let j = 0; j < b; j++) {
    const block = cpuKernels.matmul(cpuKernels.slice(A, [0, j * q], [m, q]), L[j]);
    for (let row = 0; row < m; row++)
      weighted.data.set(block.data.subarray(row * q, (row + 1) * q), row * n + j * q);
  }
  const fit = await blastFast(weighted, options);
  const { C } = fit.matrix;
  const r = fit.matrix.rank;
  for (let j = 0; j < b; j++) {
    const Cj = new Tensor([r, q], C.data.subarray(j * r * q, (j + 1) * r * q));
    C.data.set(cpuKernels.matmul(Cj, Linv[j]).data, j * r * q);
  }
  return fit;
}

/** ‖(Â − A)·Xᵀ‖_F / ‖A·Xᵀ‖_F: the relative error of a layer's outputs on inputs X. */
export function outputErrorOf(approx: Tensor, A: Tensor, X: Tensor): number {
  return relativeFrobeniusError(cpuKernels.linear(X, approx), cpuKernels.linear(X, A));
}

/**
 * {@link outputErrorOf} with the two products on `be`: they are N·m·n each (2,048 calibration tokens through a
 * 768×288 layer: 0.45 GFLOP), which the TypeScript kernels took ~0.6 s for per matrix of a stories15M compress.
 */
export async function outputErrorOn(be: Backend, approx: Tensor, A: Tensor, X: Tensor): Promise<number> {
  const [x, a, w] = [be.upload(X), be.upload(approx), be.upload(A)];
  const [ya, yw] = [be.linear(x, a), be.linear(x, w)];
  try {
    return relativeFrobeniusError(await be.download(ya), await be.download(yw));
  } finally {
    for (const t of [x, a, w, ya, yw]) be.dispose(t);
  }
}
