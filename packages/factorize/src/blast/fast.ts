import { type Backend, type BackendTensor, CpuBackend, relativeFrobeniusError, Tensor } from '@blastkit/core';
import { throwIfAborted, validateBlastShape, validateTarget } from '../validate.js';
import { type FactorSystem, systemForC, systemForS, systemForU } from './gradients.js';
import type { BlastFactorization, BlastSolverOptions } from './precgd.js';
import { finishFactors } from './renormalize.js';
import { normalizeTarget, referenceInit } from './setup.js';
import { BlastWorkspace } from './workspace.js';

export interface BlastFastOptions extends BlastSolverOptions {
  /** Stop as soon as the relative error is at or below this value (e.g. the reference's 300-step error). */
  targetError?: number;
  /** Stop when 10 steps improve the error by less than this fraction (default 1e-5; 0 never stops early). */
  tolerance?: number;
  /**
   * 'svd' (default): start from the optimal rank-r low-rank fit with s = 1, so the error starts at the low-rank
   * optimum. 'random': the reference's init; with the reference's lr, endFactor and delta (1, 0, 0.1) and
   * tolerance 0 the iterates are then the reference's own.
   */
  init?: 'svd' | 'random';
}

/**
 * Defaults of the fast solver, chosen by measurement (bench `factorize-cpu`, 768×288 b=16 Gaussian target).
 * Each factor update minimizes a quadratic exactly when the step factor 2·lr is 1, and for any 2·lr in (0, 2)
 * still lowers that factor's loss (f(x + αd) = f(x) − (α − α²/2)·dᵀGd along the Newton step d), so the
 * solver is monotone; over-relaxing to 1.8 took 4–5× fewer steps than exact least squares (2·lr = 1), and a
 * small ridge (δ = 1e-3 instead of the reference's 0.1, which damps every step) another 2×. The reference's
 * lr = 1 is the edge case α = 2, where a step reflects instead of descending, which is why it needs its decay.
 */
export const BLAST_FAST_DEFAULTS = {
  steps: 100,
  lr: 0.9,
  endFactor: 1,
  delta: 1e-3,
  init: 'svd',
  tolerance: 1e-5,
} as const;

/**
 * Our fast BLAST solver. It takes the reference's preconditioned steps without ever forming Â or the residual:
 * since the residual's correlation with the other factors is rhs(A) − gram·X, and ‖A − Â‖² = ‖A‖² − 2⟨rhs(A), X⟩ +
 * ⟨X·gram, X⟩, each factor update needs one pass over A (r·m·n multiply-adds) instead of the reference's three
 * (reconstruct Â, then its gradient, for every factor). On top: a truncated-SVD warm start (the error starts at
 * the low-rank optimum), a constant over-relaxed step with a light ridge instead of the reference's decaying
 * one (see BLAST_FAST_DEFAULTS), and early stopping on a target error or a stall.
 */
export async function blastFast(A: Tensor, options: BlastFastOptions): Promise<BlastFactorization> {
  const [m, n] = validateTarget(A);
  const { numBlocks: b, rank: r } = options;
  validateBlastShape(m, n, b, r);
  const T = options.steps ?? BLAST_FAST_DEFAULTS.steps;
  const delta = options.delta ?? BLAST_FAST_DEFAULTS.delta;
  const lr = options.lr ?? BLAST_FAST_DEFAULTS.lr;
  const endFactor = options.endFactor ?? BLAST_FAST_DEFAULTS.endFactor;
  const tolerance = options.tolerance ?? BLAST_FAST_DEFAULTS.tolerance;
  const be = options.backend ?? new CpuBackend();
  const start = performance.now();

  const { sigma, normalized, normA2 } = normalizeTarget(A);

  const seed = options.seed ?? 0;
  const init = await ((options.init ?? BLAST_FAST_DEFAULTS.init) === 'svd'
    ? svdStart(be, normalized, b, r, seed)
    : referenceInit(m, n, b, r, seed));
  let B = be.upload(init.B);
  let C = be.upload(init.C);
  let D = be.upload(init.D);
  const ws = new BlastWorkspace(be, m, n, b, r);
  const Ahandle = be.upload(normalized);
  const Ablocks = ws.toBlocks(Ahandle);
  const persistent = () => [Ablocks, B, C, D];
  ws.release(...persistent());
  be.dispose(Ahandle);

  /** One damped, relaxed update of X from its normal equations; also returns ‖A − Â‖² before the update. */
  const update = (X: BackendTensor, system: FactorSystem, eta: number, right: boolean) => {
    const gramX = ws.t(right ? be.matmul(X, system.gram) : be.matmul(system.gram, X));
    const residualRhs = ws.t(be.sub(system.rhs, gramX)); // the residual's correlation, without the residual
    const cross = ws.t(be.reduce(ws.t(be.mul(system.rhs, X)), 'sum'));
    const energy = ws.t(be.reduce(ws.t(be.mul(gramX, X)), 'sum'));
    const loss = ws.t(be.scale(ws.t(be.sub(energy, ws.t(be.scale(cross, 2)))), 1, normA2));
    const eps = ws.t(be.scale(ws.t(be.unary(ws.t(be.unary(loss, 'relu')), 'sqrt')), delta));
    const gram = ws.t(be.add(system.gram, ws.ridge(eps)));
    const step = right ? ws.solveRight(gram, residualRhs) : ws.t(be.choleskySolve(gram, residualRhs));
    return { next: be.add(X, ws.t(be.scale(step, 2 * eta))), loss };
  };

  const history: BlastFactorization['history'] = [];
  let steps = 0;
  try {
    const recent: number[] = [];
    for (let t = 0; t < T; t++) {
      throwIfAborted(options.signal);
      const eta = lr * (1 - ((1 - endFactor) * t) / T);
      const u = update(B, systemForU(ws, Ablocks, C, D), eta, true);
      be.dispose(B);
      B = u.next;
      ws.release(...persistent());
      const v = update(C, systemForC(ws, Ablocks, B, D), eta, false);
      be.dispose(C);
      C = v.next;
      ws.release(...persistent());
      const Dcol = be.reshape(D, [b * b, r, 1]);
      const s = update(Dcol, systemForS(ws, Ablocks, B, C), eta, false);
      const loss = (await be.download(s.loss)).data[0];
      be.dispose(D);
      D = be.reshape(s.next, [b, b, r]);
      ws.release(...persistent());
      steps = t + 1;
      // the error before the s update, as the reference reports it
      const relativeError = Math.sqrt(Math.max(loss, 0) / normA2);
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
    const relativeError = relativeFrobeniusError(matrix.toDense(), A);
    history.push({ step: steps, relativeError, seconds: (performance.now() - start) / 1000 });
    return { matrix, relativeError, seconds: (performance.now() - start) / 1000, steps, history };
  } finally {
    ws.close();
    for (const h of persistent()) be.dispose(h);
  }
}

/** BLAST factors of the best rank-min(r, m, n) approximation: U√S and √S·Vᵀ cut into blocks, s = 1. */
function svdStart(be: Backend, A: Tensor, b: number, r: number, seed: number) {
  const [m, n] = A.shape;
  const k = Math.min(r, m, n);
  const h = be.upload(A);
  const svd = be.truncatedSvd(h, k);
  return Promise.all([be.download(svd.U), be.download(svd.S), be.download(svd.V)]).then(([U, S, V]) => {
    for (const t of [h, svd.U, svd.S, svd.V]) be.dispose(t);
    // columns past min(m, n) (when r is larger) start as small random directions
    const extra = referenceInit(m, n, b, r, seed);
    const p = m / b;
    const q = n / b;
    const B = extra.B;
    const C = extra.C;
    for (let t = 0; t < k; t++) {
      const root = Math.sqrt(S.data[t]);
      for (let row = 0; row < m; row++)
        B.data[(Math.floor(row / p) * p + (row % p)) * r + t] = U.data[row * k + t] * root;
      for (let col = 0; col < n; col++)
        C.data[(Math.floor(col / q) * r + t) * q + (col % q)] = V.data[col * k + t] * root;
    }
    return { B, C, D: Tensor.filled([b, b, r], 1) };
  });
}
