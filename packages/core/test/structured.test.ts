import { describe, expect, it } from 'vitest';
import {
  BlastMatrix,
  BlockDiagonalMatrix,
  blastFromBlockDiagonal,
  blastFromLowRank,
  blastFromMonarch,
  cpuKernels,
  DenseMatrix,
  LowRankMatrix,
  MonarchMatrix,
  Rng,
  ShapeError,
  type StructuredMatrix,
  structuredFromNamedTensors,
  Tensor,
} from '../src/index.js';
import { randomTensor, relativeError } from '../src/test/index.js';

const rng = new Rng(7);
const rand = (shape: number[]) => randomTensor(shape, rng);

/** Dense reference product x·Aᵀ in float64, independent of every kernel under test. */
function naiveApply(A: Tensor, x: Tensor, transposed = false): Tensor {
  const [m, n] = A.shape;
  const [N, k] = x.shape;
  const outW = transposed ? n : m;
  expect(k).toBe(transposed ? m : n);
  const y = new Tensor([N, outW]);
  for (let t = 0; t < N; t++) {
    for (let o = 0; o < outW; o++) {
      let s = 0;
      for (let i = 0; i < k; i++)
        s += x.data[t * k + i] * (transposed ? A.data[i * n + o] : A.data[o * n + i]);
      y.data[t * outW + o] = s;
    }
  }
  return y;
}

function makeAll(): { name: string; mat: StructuredMatrix; params: number }[] {
  const [m, n] = [24, 36];
  const b = 3;
  const r = 5;
  const rp = 2;
  return [
    { name: 'dense', mat: new DenseMatrix(rand([m, n])), params: m * n },
    { name: 'low-rank', mat: new LowRankMatrix(rand([m, r]), rand([n, r])), params: r * (m + n) },
    { name: 'block-diagonal', mat: new BlockDiagonalMatrix(rand([b, m / b, n / b])), params: (m * n) / b },
    {
      name: 'monarch',
      mat: new MonarchMatrix(rand([b, m / b, b * rp]), rand([b, b * rp, n / b])),
      params: b * rp * (m + n),
    },
    {
      name: 'blast',
      mat: new BlastMatrix(rand([b, m / b, r]), rand([b, r, n / b]), rand([b, b, r])),
      params: r * (m + n + b * b),
    },
  ];
}

describe('structured matrices', () => {
  for (const { name, mat, params } of makeAll()) {
    describe(name, () => {
      it('has the parameter count of its formula and FLOPs = 2·params·N', () => {
        expect(mat.parameterCount).toBe(params);
        expect(mat.flops(7)).toBe(2 * params * 7);
      });
      for (const N of [1, 5, 33]) {
        it(`apply equals toDense()·x to 1e-5 relative (N=${N})`, () => {
          const x = rand([N, mat.shape[1]]);
          expect(relativeError(mat.apply(x), naiveApply(mat.toDense(), x))).toBeLessThan(1e-5);
        });
        it(`applyTransposed equals x·toDense() to 1e-5 relative (N=${N})`, () => {
          const x = rand([N, mat.shape[0]]);
          expect(relativeError(mat.applyTransposed(x), naiveApply(mat.toDense(), x, true))).toBeLessThan(
            1e-5,
          );
        });
      }
      it('round-trips through named tensors', () => {
        const back = structuredFromNamedTensors(mat.kind, mat.toNamedTensors());
        expect(back.toDense().data).toEqual(mat.toDense().data);
      });
      it('rejects an input of the wrong width with a message naming the shapes', () => {
        expect(() => mat.apply(rand([2, mat.shape[1] + 1]))).toThrow(ShapeError);
        expect(() => mat.apply(rand([2, mat.shape[1] + 1]))).toThrow(/expected \[/);
      });
    });
  }

  it('BLAST toDense follows the definition A_ij = U_i diag(s_ij) V_jᵀ on a hand-checked entry', () => {
    const blast = BlastMatrix.random(4, 6, 2, 3, new Rng(3));
    const A = blast.toDense();
    // entry (row 3, col 1) lies in block (1, 0): local row 1, local col 1
    let s = 0;
    for (let k = 0; k < 3; k++) s += blast.B.get(1, 1, k) * blast.D.get(1, 0, k) * blast.C.get(0, k, 1);
    expect(A.get(3, 1)).toBeCloseTo(s, 6);
  });
});

describe('conversions to BLAST are exact', () => {
  it('low-rank → BLAST for every block count dividing the shape', () => {
    const lr = new LowRankMatrix(rand([24, 4]), rand([36, 4]));
    for (const b of [1, 2, 3, 4, 6, 12]) {
      const blast = blastFromLowRank(lr, b);
      expect(blast.rank).toBe(4);
      expect(relativeError(blast.toDense(), lr.toDense())).toBeLessThan(1e-7);
      const x = rand([3, 36]);
      expect(relativeError(blast.apply(x), lr.apply(x))).toBeLessThan(1e-6);
    }
  });
  it('block-diagonal → BLAST with tall, wide and square blocks', () => {
    for (const [p, q] of [
      [6, 4],
      [4, 6],
      [5, 5],
    ]) {
      const bd = new BlockDiagonalMatrix(rand([3, p, q]));
      const blast = blastFromBlockDiagonal(bd);
      expect(blast.rank).toBe(Math.min(p, q));
      expect(blast.toDense().data).toEqual(bd.toDense().data);
    }
  });
  it('Monarch → BLAST with r = b·r′', () => {
    for (const [b, rp] of [
      [2, 1],
      [3, 2],
      [4, 3],
    ]) {
      const mon = new MonarchMatrix(rand([b, 5, b * rp]), rand([b, b * rp, 7]));
      const blast = blastFromMonarch(mon);
      expect(blast.rank).toBe(b * rp);
      expect(relativeError(blast.toDense(), mon.toDense())).toBeLessThan(1e-7);
    }
  });
  it('a Monarch matrix has blocks of rank r′ (the structure is what it claims)', () => {
    const b = 3;
    const mon = new MonarchMatrix(rand([b, 6, b]), rand([b, b, 6]));
    const A = mon.toDense();
    const block = cpuKernels.slice(A, [6, 12], [6, 6]);
    const s = cpuKernels.truncatedSvd(block, 6).S.data;
    expect(s[0]).toBeGreaterThan(1e-3);
    expect(s[1] / s[0]).toBeLessThan(1e-5);
  });
});

describe('bad shapes give clear errors', () => {
  it('BLAST factors that disagree', () => {
    expect(() => new BlastMatrix(rand([2, 4, 3]), rand([2, 4, 5]), rand([2, 2, 3]))).toThrow(
      /BLAST: C has shape \[2,4,5\], expected \[2,3,\*\]/,
    );
    expect(() => new BlastMatrix(rand([2, 4, 3]), rand([2, 3, 5]), rand([3, 3, 3]))).toThrow(/BLAST: D/);
  });
  it('Monarch whose L is not grouped by b', () => {
    expect(() => new MonarchMatrix(rand([3, 4, 4]), rand([3, 4, 5]))).toThrow(/multiple of b=3/);
  });
  it('low-rank factors of different rank', () => {
    expect(() => new LowRankMatrix(rand([4, 2]), rand([5, 3]))).toThrow(
      /V has shape \[5,3\], expected \[\*,2\]/,
    );
  });
  it('missing named tensors', () => {
    expect(() => structuredFromNamedTensors('blast', { B: rand([1, 1, 1]) })).toThrow(/missing tensor 'C'/);
  });
  it('block counts that do not divide the shape', () => {
    expect(() => BlastMatrix.random(10, 12, 4, 2, rng)).toThrow(/4 blocks must divide both 10 and 12/);
    expect(() => blastFromLowRank(new LowRankMatrix(rand([10, 2]), rand([12, 2])), 3)).toThrow(/must divide/);
  });
});
