import { BlastMatrix, Rng } from '@blastkit/core';
import { blastPrecGd } from '@blastkit/factorize';
import { round } from '../timing.js';

export interface ConvergenceCpuOptions {
  /** A small target and few steps, for the test that keeps this suite runnable. */
  quick?: boolean;
}

/**
 * The BLAST paper's convergence figure on synthetic targets: a 256×256 matrix with exact BLAST structure
 * (b = 4, r* = 16, Gaussian factors), factorized at r = r* and r = 2r* by the reference's preconditioned GD
 * and by plain GD with a small fixed step, same seed; relative error every 10 steps.
 */
export async function runConvergenceCpu(options: ConvergenceCpuOptions = {}) {
  const n = options.quick ? 64 : 256;
  const steps = options.quick ? 20 : 300;
  const b = 4;
  const rStar = options.quick ? 4 : 16;
  const target = BlastMatrix.random(n, n, b, rStar, new Rng(1000)).toDense();
  const runs = [];
  for (const rank of [rStar, 2 * rStar])
    for (const precondition of [true, false]) {
      const r = await blastPrecGd(target, {
        numBlocks: b,
        rank,
        steps,
        seed: 0,
        precondition,
        // plain GD diverges with the preconditioned step's lr; 3e-4 is the largest that stays stable here
        ...(precondition ? {} : { lr: 3e-4, endFactor: 1 }),
        recordEvery: Math.max(1, steps / 30),
      });
      runs.push({
        method: precondition ? 'precgd' : 'gd',
        rank,
        finalRelativeError: round(r.relativeError),
        seconds: round(r.seconds),
        curve: r.history.map((h) => [h.step, round(h.relativeError)]),
      });
    }
  return { suite: 'convergence-cpu', target: { shape: [n, n], blocks: b, trueRank: rStar }, steps, runs };
}
