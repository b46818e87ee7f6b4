import { readFileSync } from 'node:fs';
import { cpuKernels, Rng, Tensor } from '@blastkit/core';
import { randomTensor } from '@blastkit/core/test';
import { describe, expect, it } from 'vitest';
import { gramOf } from '../src/baselines/svd-llm.js';
import { lowRankFactorize, outputErrorOf, rankForRatio, svdLlmFactorize } from '../src/index.js';

interface GoldenCase {
  name: string;
  rank: number;
  W: { shape: number[]; data: number[] };
  X: { shape: number[]; data: number[] };
  shifted: boolean;
  approx: { shape: number[]; data: number[] };
  outputError: number;
}
const golden = JSON.parse(readFileSync(new URL('../fixtures/svd-llm.json', import.meta.url), 'utf8')) as {
  cases: GoldenCase[];
};
const tensor = (t: { shape: number[]; data: number[] }) => new Tensor(t.shape, t.data);
const rel = (a: Tensor, b: Tensor) =>
  Math.sqrt(cpuKernels.reduce(cpuKernels.sub(a, b), 'sumsq').data[0] / cpuKernels.reduce(b, 'sumsq').data[0]);

describe('SVD-LLM (whitened truncated SVD)', () => {
  for (const c of golden.cases)
    it(`matches NumPy's computation of the published algorithm: ${c.name}`, async () => {
      const W = tensor(c.W);
      const X = tensor(c.X);
      const r = await svdLlmFactorize(W, X, c.rank);
      expect(r.shift > 0).toBe(c.shifted);
      expect(r.matrix.rank).toBe(c.rank);
      expect(rel(r.matrix.toDense(), tensor(c.approx))).toBeLessThan(1e-4);
      expect(outputErrorOf(r.matrix.toDense(), W, X)).toBeCloseTo(c.outputError, 4);
    });

  it('equals a direct dense computation: the best rank-k fit of W·S, times S⁻¹ (S any square root of XᵀX)', async () => {
    const rng = new Rng(3);
    const W = randomTensor([20, 16], rng);
    const X = cpuKernels.add(
      cpuKernels.matmul(randomTensor([90, 5], rng, 2), randomTensor([5, 16], rng)),
      randomTensor([90, 16], rng, 0.2),
    );
    // S from the eigendecomposition instead of Cholesky: XᵀX = QΛQᵀ, S = QΛ^½, S⁻¹ = Λ^-½Qᵀ
    const { values, vectors } = cpuKernels.eigh(cpuKernels.matmul(X, X, { transposeA: true }));
    const S = new Tensor([16, 16]);
    const Sinv = new Tensor([16, 16]);
    for (let k = 0; k < 16; k++)
      for (let row = 0; row < 16; row++) {
        S.data[row * 16 + k] = vectors.data[row * 16 + k] * Math.sqrt(values.data[k]);
        Sinv.data[k * 16 + row] = vectors.data[row * 16 + k] / Math.sqrt(values.data[k]);
      }
    const best = (await lowRankFactorize(cpuKernels.matmul(W, S), 6)).toDense();
    const direct = cpuKernels.matmul(best, Sinv);
    const r = await svdLlmFactorize(W, X, 6);
    expect(r.shift).toBe(0);
    expect(rel(r.matrix.toDense(), direct)).toBeLessThan(1e-3);
    // and it has a lower output error than the plain SVD of W at the same rank
    const plain = (await lowRankFactorize(W, 6)).toDense();
    expect(outputErrorOf(r.matrix.toDense(), W, X)).toBeLessThan(outputErrorOf(plain, W, X));
  });

  it('accumulates XᵀX in float64 in token order, to the bit, however it tiles (sizes past its 64 × 128 tiles)', () => {
    const rng = new Rng(9);
    const X = randomTensor([300, 150], rng);
    for (let k = 0; k < X.data.length; k += 7) X.data[k] = 0;
    const n = 150;
    const naive = new Float64Array(n * n);
    for (let t = 0; t < 300; t++)
      for (let a = 0; a < n; a++)
        for (let c = 0; c <= a; c++) naive[a * n + c] += X.data[t * n + a] * X.data[t * n + c];
    for (let a = 0; a < n; a++) for (let c = 0; c < a; c++) naive[c * n + a] = naive[a * n + c];
    expect(gramOf(X)).toEqual(naive);
  });

  it('takes the low-rank parameter rule: k(m + n) with k = ⌊ratio·mn/(m + n)⌋', async () => {
    const rng = new Rng(4);
    const W = randomTensor([24, 12], rng);
    const X = randomTensor([50, 12], rng);
    const { rank, parameters } = rankForRatio('low-rank', 24, 12, 0.5);
    expect(rank).toBe(Math.floor((0.5 * 24 * 12) / 36));
    const r = await svdLlmFactorize(W, X, rank);
    expect(r.matrix.parameterCount).toBe(parameters);
  });

  it('rejects calibration inputs of the wrong width and bad ranks', async () => {
    await expect(svdLlmFactorize(new Tensor([4, 4]), new Tensor([3, 5]), 1)).rejects.toThrow(
      /calibration inputs have shape \[3,5\], expected \[N,4\]/,
    );
    await expect(svdLlmFactorize(new Tensor([4, 4]), new Tensor([3, 4]), 5)).rejects.toThrow(/rank 5/);
  });
});
