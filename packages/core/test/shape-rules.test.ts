import { describe, expect, it } from 'vitest';
import { blastDims, lowRankDims, ShapeError, sliceShape } from '../src/index.js';

describe('shape rules shared by the backends', () => {
  it('blastDims: sizes of A and of the blocks, both directions', () => {
    const d = blastDims([5, 64], [4, 12, 8], [4, 8, 16], [4, 4, 8]);
    expect(d).toMatchObject({ b: 4, p: 12, q: 16, r: 8, m: 48, n: 64, N: 5, nIn: 64, nOut: 48, inBlock: 16 });
    expect(blastDims([2, 48], [4, 12, 8], [4, 8, 16], [4, 4, 8], true)).toMatchObject({
      nIn: 48,
      nOut: 64,
      outBlock: 16,
    });
    expect(() => blastDims([5, 48], [4, 12, 8], [4, 8, 16], [4, 4, 8])).toThrow(
      /x has shape \[5,48\], expected \[N,64\]/,
    );
    expect(() => blastDims([5, 64], [4, 12, 8], [4, 8, 16], [4, 3, 8])).toThrow(ShapeError);
  });

  it('lowRankDims and sliceShape check their inputs', () => {
    expect(lowRankDims([3, 10], [7, 2], [10, 2])).toEqual({ m: 7, n: 10, r: 2, N: 3 });
    expect(() => lowRankDims([3, 9], [7, 2], [10, 2])).toThrow(/expected \[N,10\]/);
    expect(sliceShape([4, 6], [1, 2], [-1, 3])).toEqual([3, 3]);
    expect(() => sliceShape([4, 6], [1, 4], [2, 3])).toThrow(/outside axis 1/);
    expect(() => sliceShape([4, 6], [1], [2])).toThrow(/need 2 entries/);
  });
});
