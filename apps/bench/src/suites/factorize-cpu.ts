import { CpuBackend, Rng, Tensor } from '@blastkit/core';
import { blastFast, blastPrecGd, rankForRatio } from '@blastkit/factorize';
import { round } from '../timing.js';

export interface FactorizeCpuOptions {
  /** Tiny shapes and few steps, for the test that keeps this suite runnable. */
  quick?: boolean;
  /** Adds 1024×1024 (r=256, b=16): several minutes per solver on this CPU. */
  full?: boolean;
}

/**
 * Time-to-error, faithful PrecGD vs our fast solver, same backend, same seed, one run: the faithful solver
 * runs its 300 steps; the fast one runs until it reaches the faithful final error (or its own 300 steps).
 * Targets are Gaussian matrices scaled like weights (the hard case: no exact structure to find).
 */
export async function runFactorizeCpu(options: FactorizeCpuOptions = {}) {
  const backend = new CpuBackend();
  const cases = options.quick
    ? [{ m: 32, n: 16, b: 4, steps: 20 }]
    : [
        { m: 768, n: 288, b: 16, steps: 300 },
        ...(options.full ? [{ m: 1024, n: 1024, b: 16, steps: 300 }] : []),
      ];
  const results = [];
  for (const { m, n, b, steps } of cases) {
    const rng = new Rng(7);
    const A = new Tensor([m, n]);
    rng.fillNormal(A.data, 0.02);
    const rank = m === 1024 ? 256 : rankForRatio('blast', m, n, 0.5, b).rank;
    const faithful = await blastPrecGd(A, {
      numBlocks: b,
      rank,
      steps,
      seed: 0,
      backend,
      recordEvery: Math.max(1, steps / 30),
    });
    const fast = await blastFast(A, {
      numBlocks: b,
      rank,
      steps,
      seed: 0,
      backend,
      tolerance: 0,
      targetError: faithful.relativeError,
    });
    const fastTime = fast.history.find((h) => h.relativeError <= faithful.relativeError)?.seconds ?? null;
    // the fast curve at the faithful curve's recorded times: is it ever worse at equal time?
    const worseAtEqualTime = faithful.history.filter((h) => {
      const at = fast.history.filter((f) => f.seconds <= h.seconds).at(-1);
      return at !== undefined && at.relativeError > h.relativeError * 1.001;
    }).length;
    results.push({
      shape: [m, n],
      blocks: b,
      rank,
      steps,
      faithful: { seconds: round(faithful.seconds), relativeError: round(faithful.relativeError) },
      fast: {
        seconds: round(fast.seconds),
        steps: fast.steps,
        relativeError: round(fast.relativeError),
        secondsToFaithfulError: fastTime && round(fastTime),
      },
      speedupToFaithfulError: fastTime ? round(faithful.seconds / fastTime) : null,
      fastWorseAtEqualTimePoints: worseAtEqualTime,
      curves: {
        faithful: faithful.history.map((h) => [round(h.seconds), round(h.relativeError)]),
        fast: fast.history
          .filter((_, i) => i % Math.max(1, Math.floor(fast.history.length / 30)) === 0)
          .map((h) => [round(h.seconds), round(h.relativeError)]),
      },
    });
  }
  return { suite: 'factorize-cpu', backend: backend.name, node: process.version, results };
}
