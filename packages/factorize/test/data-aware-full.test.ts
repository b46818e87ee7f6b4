import { cpuKernels, Rng, type Tensor } from '@blastkit/core';
import { randomTensor } from '@blastkit/core/test';
import { describe, expect, it } from 'vitest';
import { blastDataAware, outputErrorOf, rankForRatio, svdLlmFactorize } from '../src/index.js';

const rng = new Rng(5);

/**
 * Inputs whose covariance couples column blocks: a few latent factors spread over all inputs (as real
 * activations are, with outlier features shared across the whole width), plus a little isotropic noise.
 */
function correlatedInputs(N: number, n: number, latent: number): Tensor {
  const mix = randomTensor([latent, n], rng);
  const scales = randomTensor([N, latent], rng, 2);
  return cpuKernels.add(cpuKernels.matmul(scales, mix), randomTensor([N, n], rng, 0.1));
}

describe('data-aware BLAST, full covariance', () => {
  it('has a lower output error than the block-diagonal covariance at the same budget on correlated inputs', async () => {
    const A = randomTensor([48, 32], rng);
    const X = correlatedInputs(400, 32, 12);
    const common = { numBlocks: 4, rank: 6, steps: 60, seed: 0, inputs: X };
    const full = await blastDataAware(A, common);
    const block = await blastDataAware(A, { ...common, covariance: 'block-diagonal' });
    expect(full.matrix.parameterCount).toBe(block.matrix.parameterCount);
    expect(full.outputError).toBeLessThan(0.8 * block.outputError);
    expect(full.outputError).toBeCloseTo(outputErrorOf(full.matrix.toDense(), A, X), 5);
  });

  it('beats SVD-LLM at equal parameters on correlated inputs', async () => {
    const A = randomTensor([64, 64], rng);
    const X = correlatedInputs(600, 64, 24);
    const blast = rankForRatio('blast', 64, 64, 0.5, 4);
    const lowRank = rankForRatio('low-rank', 64, 64, 0.5);
    const full = await blastDataAware(A, { numBlocks: 4, rank: blast.rank, steps: 100, seed: 0, inputs: X });
    const svdLlm = await svdLlmFactorize(A, X, lowRank.rank);
    expect(full.matrix.parameterCount).toBeLessThanOrEqual(0.5 * 64 * 64);
    expect(svdLlm.matrix.parameterCount).toBeLessThanOrEqual(0.5 * 64 * 64);
    expect(full.outputError).toBeLessThan(outputErrorOf(svdLlm.matrix.toDense(), A, X));
  });

  it('lowers the weighted error at every step and is deterministic', async () => {
    const A = randomTensor([32, 32], rng);
    const X = correlatedInputs(200, 32, 8);
    const options = { numBlocks: 4, rank: 4, steps: 25, tolerance: 0, seed: 3, inputs: X };
    const a = await blastDataAware(A, options);
    const b = await blastDataAware(A, options);
    expect(Array.from(a.matrix.toDense().data)).toEqual(Array.from(b.matrix.toDense().data));
    for (let k = 1; k < a.history.length - 1; k++)
      expect(a.history[k].relativeError).toBeLessThanOrEqual(a.history[k - 1].relativeError * (1 + 1e-5));
  });
});
