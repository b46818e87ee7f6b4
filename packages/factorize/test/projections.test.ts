import { BlockDiagonalMatrix, cpuKernels, MonarchMatrix, Rng, Tensor } from '@blastkit/core';
import { randomTensor } from '@blastkit/core/test';
import { describe, expect, it } from 'vitest';
import {
  blockDiagonalFactorize,
  lowRankFactorize,
  monarchFactorize,
  relativeFrobeniusError,
} from '../src/index.js';

const rng = new Rng(11);

describe('baseline projections', () => {
  it('low-rank error equals the Eckart–Young optimum to 1e-4', async () => {
    const A = randomTensor([60, 40], rng);
    const full = cpuKernels.truncatedSvd(A, 40).S.data;
    let total = 0;
    for (const s of full) total += s * s;
    for (const rank of [1, 5, 20, 39]) {
      let tail = 0;
      for (let k = rank; k < 40; k++) tail += full[k] ** 2;
      const optimum = Math.sqrt(tail / total);
      const lr = await lowRankFactorize(A, rank);
      expect(lr.rank).toBe(rank);
      expect(Math.abs(relativeFrobeniusError(lr.toDense(), A) - optimum) / optimum).toBeLessThan(1e-4);
    }
  });

  it('recovers a block-diagonal target exactly', () => {
    const target = new BlockDiagonalMatrix(randomTensor([4, 6, 5], rng));
    const got = blockDiagonalFactorize(target.toDense(), 4);
    expect(got.toDense().data).toEqual(target.toDense().data);
  });

  it('recovers a Monarch target exactly (to float32 rounding)', () => {
    const target = new MonarchMatrix(randomTensor([3, 8, 6], rng), randomTensor([3, 6, 10], rng));
    const got = monarchFactorize(target.toDense(), 3, 2);
    expect(relativeFrobeniusError(got.toDense(), target.toDense())).toBeLessThan(1e-5);
    expect(got.parameterCount).toBe(target.parameterCount);
  });

  it('rejects ranks and block counts that do not fit', async () => {
    await expect(lowRankFactorize(new Tensor([4, 3]), 4)).rejects.toThrow(
      /rank 4 must be an integer in \[1, 3\]/,
    );
    expect(() => blockDiagonalFactorize(new Tensor([6, 4]), 4)).toThrow(
      /4 blocks must divide both sides of the 6×4/,
    );
    expect(() => monarchFactorize(new Tensor([8, 8]), 2, 5)).toThrow(/block rank 5/);
  });
});
