import {
  type Backend,
  type BackendTensor,
  type BlastMatrix,
  CpuBackend,
  relativeFrobeniusError,
  type Tensor,
} from '@blastkit/core';
import type { RunOptions } from '../progress.js';
import { throwIfAborted, validateBlastShape, validateTarget } from '../validate.js';
import { type FactorSystem, systemForC, systemForS, systemForU } from './gradients.js';
import { finishFactors } from './renormalize.js';
import { normalizeTarget, referenceInit } from './setup.js';
import { BlastWorkspace } from './workspace.js';

/** The settings both BLAST solvers share: the structure, the reference's step schedule, seed and backend. */
export interface BlastSolverOptions extends RunOptions {
  numBlocks: number;
  rank: number;
  /** Length T of the schedule: lr decays linearly to lr·endFactor over T steps (default 300 faithful, 100 fast). */
  steps?: number;
  /** ε = δ·‖A − Â‖_F damping of every preconditioner (default 0.1, the reference's Llama setting; fast: 1e-3). */
  delta?: number;
  /** Initial learning rate (default 1: with the un-halved loss the first steps over-relax by 2; fast: 0.9). */
  lr?: number;
  /** Final lr as a fraction of the initial one (default 0; fast: 1, a constant step). */
  endFactor?: number;
  seed?: number;
  backend?: Backend;
}

export interface PrecGdOptions extends BlastSolverOptions {
  /** false: plain gradient descent, for the paper's convergence comparison (default true). */
  precondition?: boolean;
  /** Record the relative error every k steps in `history` (default 10; 0 = never). */
  recordEvery?: number;
}

export interface BlastFactorization {
  matrix: BlastMatrix;
  /** ‖A − Â‖_F / ‖A‖_F of the returned factors. */
  relativeError: number;
  seconds: number;
  steps: number;
  history: { step: number; relativeError: number; seconds: number }[];
}

/**
 * BLAST factorization by preconditioned gradient descent, faithful to the reference (method.md §2):
 * A/std(A), init U,V ~ N(0,1)/√r·1e-3 and s ~ N(0,1); each step updates U, then V, then s, recomputing Â
 * before each; the loss is the un-halved ‖A − Â‖² (so the step carries a factor 2); preconditioners
 * (gram + εI)⁻¹ with ε = δ‖A − Â‖; lr decays linearly to endFactor; columns renormalized at the end.
 */
export async function blastPrecGd(A: Tensor, options: PrecGdOptions): Promise<BlastFactorization> {
  const [m, n] = validateTarget(A);
  const { numBlocks: b, rank: r } = options;
  validateBlastShape(m, n, b, r);
  const T = options.steps ?? 300;
  const delta = options.delta ?? 0.1;
  const lr = options.lr ?? 1;
  const endFactor = options.endFactor ?? 0;
  const precondition = options.precondition ?? true;
  const recordEvery = options.recordEvery ?? 10;
  const be = options.backend ?? new CpuBackend();
  const start = performance.now();

  const { sigma, normalized, normA2 } = normalizeTarget(A);

  const init = referenceInit(m, n, b, r, options.seed ?? 0);
  let B = be.upload(init.B);
  let C = be.upload(init.C);
  let D = be.upload(init.D);

  const ws = new BlastWorkspace(be, m, n, b, r);
  const Ahandle = be.upload(normalized);
  const Ablocks = ws.toBlocks(Ahandle);
  const persistent = () => [Ablocks, B, C, D];
  ws.release(...persistent());
  be.dispose(Ahandle);

  const history: BlastFactorization['history'] = [];
  const update = (
    X: BackendTensor,
    system: FactorSystem,
    eps: BackendTensor,
    eta: number,
    solveLeft: boolean,
  ) => {
    let step = system.rhs;
    if (precondition) {
      const gram = ws.t(be.add(system.gram, ws.ridge(eps)));
      step = solveLeft ? ws.t(be.choleskySolve(gram, system.rhs)) : ws.solveRight(gram, system.rhs);
    }
    // gradient of the un-halved loss is −2·rhs, so X − η·grad = X + 2η·step
    return be.add(X, ws.t(be.scale(step, 2 * eta)));
  };

  /** Â recomputed from the current factors, as the reference does before every factor update. */
  const residualNow = () => {
    const residual = ws.t(be.sub(Ablocks, ws.reconstructBlocks(B, C, D)));
    const loss = ws.t(be.reduce(residual, 'sumsq'));
    return { residual, loss, eps: ws.t(be.scale(ws.t(be.unary(loss, 'sqrt')), delta)) };
  };

  try {
    for (let t = 0; t < T; t++) {
      throwIfAborted(options.signal);
      const eta = lr * (1 - ((1 - endFactor) * t) / T);
      let now = residualNow();
      const nextB = update(B, systemForU(ws, now.residual, C, D), now.eps, eta, false);
      be.dispose(B);
      B = nextB;
      ws.release(...persistent());
      now = residualNow();
      const nextC = update(C, systemForC(ws, now.residual, B, D), now.eps, eta, true);
      be.dispose(C);
      C = nextC;
      ws.release(...persistent());
      now = residualNow();
      const sys = systemForS(ws, now.residual, B, C);
      const nextD = be.reshape(update(be.reshape(D, [b * b, r, 1]), sys, now.eps, eta, true), [b, b, r]);
      be.dispose(D);
      D = nextD;
      const lastLoss = now.loss; // the error before the s update, as the reference reports it
      ws.release(...persistent(), lastLoss);
      const record = recordEvery > 0 && ((t + 1) % recordEvery === 0 || t === 0 || t === T - 1);
      if (record || options.onProgress) {
        const loss = (await be.download(lastLoss)).data[0];
        const relativeError = Math.sqrt(loss / normA2);
        const seconds = (performance.now() - start) / 1000;
        if (record) history.push({ step: t + 1, relativeError, seconds });
        options.onProgress?.({ step: t + 1, totalSteps: T, relativeError, seconds });
      }
      ws.release(...persistent());
    }
    const matrix = finishFactors(await be.download(B), await be.download(C), await be.download(D), sigma);
    return {
      matrix,
      relativeError: relativeFrobeniusError(matrix.toDense(), A),
      seconds: (performance.now() - start) / 1000,
      steps: T,
      history,
    };
  } finally {
    ws.close();
    for (const h of persistent()) be.dispose(h);
  }
}
