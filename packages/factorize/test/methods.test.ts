import { Rng, STRUCTURE_KINDS } from '@blastkit/core';
import { randomTensor } from '@blastkit/core/test';
import { describe, expect, it } from 'vitest';
import { FACTORIZER_NAMES, FACTORIZERS, findFactorizer, rankForRatio } from '../src/index.js';

describe('factorizer method registry', () => {
  it('lists each method once, under its name, with a structure kind of core and a description', () => {
    expect(new Set(FACTORIZER_NAMES).size).toBe(FACTORIZERS.length);
    for (const m of FACTORIZERS) {
      expect(findFactorizer(m.name)).toBe(m);
      expect(STRUCTURE_KINDS).toContain(m.kind);
      expect(m.description.length).toBeGreaterThan(20);
    }
    expect(findFactorizer('low-rank-typo')).toBeUndefined();
  });

  it('solves to a matrix of its kind with the rank and blocks it is given', async () => {
    const rng = new Rng(5);
    const A = randomTensor([24, 16], rng);
    const inputs = randomTensor([40, 16], rng);
    for (const m of FACTORIZERS) {
      const request = {
        ...(m.takes.rank ? { rank: 2 } : {}),
        ...(m.takes.blocks ? { numBlocks: 4 } : {}),
        ...(m.takes.inputs ? { inputs } : {}),
        steps: 3,
      };
      const { matrix } = await m.solve(A, request);
      expect(matrix.kind, m.name).toBe(m.kind);
      expect(matrix.shape, m.name).toEqual([24, 16]);
      // the parameter count the budget rules give for this kind, rank and block count
      if (m.kind !== 'block-diagonal') {
        const choice = rankForRatio(
          m.kind,
          24,
          16,
          matrix.parameterCount / (24 * 16),
          m.takes.blocks ? 4 : 1,
        );
        expect(choice.rank, m.name).toBe(2);
      } else expect(matrix.parameterCount).toBe((24 * 16) / 4);
    }
  });

  it('names what a request lacks', async () => {
    const A = randomTensor([8, 8], new Rng(1));
    await expect(findFactorizer('blast-data')!.solve(A, { rank: 2, numBlocks: 2 })).rejects.toThrow(
      /blast-data: inputs is missing/,
    );
  });
});
