import { describe, expect, it } from 'vitest';
import { rankForRatio, referenceRank } from '../src/index.js';

describe('rank budgets', () => {
  it('reproduces the reference’s Llama-7B ranks', () => {
    expect(referenceRank(4096, 4096)).toBe(1024);
    expect(referenceRank(11008, 4096)).toBe(1488);
  });
  it('picks the largest rank that fits, for each method', () => {
    const blast = rankForRatio('blast', 768, 288, 0.5, 4);
    expect(blast.rank).toBe(Math.floor((0.5 * 768 * 288) / (768 + 288 + 16)));
    expect(blast.parameters).toBeLessThanOrEqual(0.5 * 768 * 288);
    expect(blast.rank + 1).toBeGreaterThan((0.5 * 768 * 288) / (768 + 288 + 16));
    expect(rankForRatio('low-rank', 768, 288, 0.5).rank).toBe(104);
    const mon = rankForRatio('monarch', 768, 288, 0.5, 4);
    expect(mon.parameters).toBe(4 * mon.rank * (768 + 288));
    expect(mon.parameters).toBeLessThanOrEqual(0.5 * 768 * 288);
    expect(rankForRatio('block-diagonal', 768, 288, 0.5).numBlocks).toBe(2);
  });
  it('explains a budget that cannot be met', () => {
    expect(() => rankForRatio('blast', 16, 16, 0.01, 4)).toThrow(/cannot fit 0.01 of a 16×16 matrix/);
    expect(() => rankForRatio('low-rank', 16, 16, 1.5)).toThrow(/ratio must be in \(0, 1\]/);
  });
});
