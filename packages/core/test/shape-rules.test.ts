import { describe, expect, it } from 'vitest';
import {
  attentionDims,
  blastDims,
  concatShape,
  expectCholeskySolveShapes,
  lowRankDims,
  monarchDims,
  ropeDims,
  ShapeError,
  sliceShape,
  transposeShape,
  truncatedSvdDims,
} from '../src/index.js';

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

  it('monarchDims, concatShape, ropeDims and the hand-offs check their inputs', () => {
    expect(monarchDims([2, 32], [4, 6, 8], [4, 8, 8])).toMatchObject({ b: 4, rp: 2, m: 24, n: 32, N: 2 });
    expect(() => monarchDims([2, 32], [4, 6, 7], [4, 7, 8])).toThrow(/multiple of b=4/);
    expect(
      concatShape(
        [
          [2, 3],
          [2, 5],
        ],
        -1,
      ),
    ).toEqual({ axis: 1, shape: [2, 8] });
    expect(() =>
      concatShape(
        [
          [2, 3],
          [3, 5],
        ],
        1,
      ),
    ).toThrow(/input 1 has shape \[3,5\]/);
    expect(() => concatShape([], 0)).toThrow(/at least one tensor/);
    expect(ropeDims([3, 2, 8], 3, 4)).toEqual({ N: 3, heads: 2, d: 8, rd: 4, half: 2 });
    expect(() => ropeDims([3, 2, 8], 3, 5)).toThrow(/must be even/);
    expect(() => expectCholeskySolveShapes([2, 4, 4], [2, 4, 1])).not.toThrow();
    expect(() => expectCholeskySolveShapes([2, 4, 4], [2, 3, 1])).toThrow(/expected \[2,4,\*\]/);
    expect(truncatedSvdDims([6, 4], 4)).toEqual({ m: 6, n: 4 });
    expect(() => truncatedSvdDims([6, 4], 5)).toThrow(/\[1, 4\]/);
  });

  it('attentionDims and transposeShape check their inputs', () => {
    expect(attentionDims([2, 8, 16], [5, 2, 16], [5, 2, 16])).toEqual({ N: 2, hq: 8, d: 16, S: 5, hkv: 2 });
    expect(() => attentionDims([2, 8, 16], [5, 3, 16], [5, 3, 16])).toThrow(/not a multiple of 3/);
    expect(transposeShape([2, 3, 4], [2, 0, 1])).toEqual([4, 2, 3]);
    expect(() => transposeShape([2, 3], [0, 0])).toThrow(/not a permutation/);
  });
});
