import { cpuKernels, Rng, Tensor } from '@blastkit/core';
import { describe, expect, it } from 'vitest';
import { allocateRanks, formatPlan, interpolatedCurve, tailEnergyCurve } from '../src/index.js';

/** A matrix with a chosen singular spectrum. */
function withSpectrum(m: number, n: number, sigma: (k: number) => number, seed: number): Tensor {
  const rng = new Rng(seed);
  const G = new Tensor([m, n]);
  rng.fillNormal(G.data);
  const { U, V } = cpuKernels.truncatedSvd(G, Math.min(m, n));
  const k = Math.min(m, n);
  const US = new Tensor([m, k]);
  for (let i = 0; i < m; i++) for (let t = 0; t < k; t++) US.data[i * k + t] = U.data[i * k + t] * sigma(t);
  return cpuKernels.matmul(US, V, { transposeB: true });
}

describe('global rank allocation', () => {
  it('gives rank to the layer whose error falls fastest, and stays within the budget', () => {
    const steep = withSpectrum(64, 64, (k) => Math.exp(-k / 4), 1); // nearly low-rank
    const flat = withSpectrum(64, 64, () => 1, 2); // no low-rank structure at all
    const curve = (A: Tensor) => tailEnergyCurve(cpuKernels.truncatedSvd(A, 64).S.data);
    const plan = allocateRanks(
      [
        { name: 'steep', m: 64, n: 64, errorAtRank: curve(steep) },
        { name: 'flat', m: 64, n: 64, errorAtRank: curve(flat) },
      ],
      { method: 'low-rank', ratio: 0.5, granularity: 4 },
    );
    expect(plan.totals.parameters).toBeLessThanOrEqual(0.5 * 2 * 64 * 64);
    const [s, f] = plan.layers;
    expect(s.predictedRelativeError).toBeLessThan(0.2);
    expect(f.rank).toBeGreaterThan(s.rank); // the steep layer is done early; the rest goes to the flat one
    // a uniform split of the same budget has a larger total relative squared error
    const rel = (A: Tensor, r: number) => curve(A)(r) / curve(A)(0);
    expect(rel(steep, s.rank) + rel(flat, f.rank)).toBeLessThan(rel(steep, 16) + rel(flat, 16));
    expect(formatPlan(plan)).toMatch(/total .* ratio 0\.\d+/);
  });

  it('explains a budget that cannot hold the minimum rank', () => {
    expect(() =>
      allocateRanks([{ name: 'w', m: 32, n: 32, errorAtRank: () => 1 }], {
        method: 'blast',
        numBlocks: 4,
        ratio: 0.05,
        granularity: 16,
      }),
    ).toThrow(/cannot hold rank 16 in every layer/);
  });

  it('interpolates measured error points', () => {
    const c = interpolatedCurve([
      [32, 1],
      [16, 3],
      [64, 0.5],
    ]);
    expect(c(8)).toBe(3);
    expect(c(24)).toBe(2);
    expect(c(128)).toBe(0.5);
  });
});
