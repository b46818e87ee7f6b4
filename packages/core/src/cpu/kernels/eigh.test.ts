import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../errors.js';
import { Rng } from '../../random/rng.js';
import { Tensor } from '../../tensor/tensor.js';
import { eigh, eighF64, largestMagnitudeIndex } from './eigh.js';

function randomSymmetric(n: number, rng: Rng): Float64Array {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = Math.fround(rng.normal());
      a[i * n + j] = v;
      a[j * n + i] = v;
    }
  }
  return a;
}

/** A random orthogonal n×n matrix (float64, row-major), from the eigenvectors of a random symmetric one. */
function randomOrthogonal(n: number, rng: Rng): Float64Array {
  return eighF64(randomSymmetric(n, rng), n).vectors;
}

/** Q·diag(lambda)·Qᵀ. */
function withSpectrum(Q: Float64Array, lambda: number[]): Float64Array {
  const n = lambda.length;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += Q[i * n + k] * lambda[k] * Q[j * n + k];
      a[i * n + j] = s;
    }
  }
  return a;
}

/** max |A·v_j − λ_j·v_j| and max |VᵀV − I| for vectors as columns. */
function eigenErrors(
  a: ArrayLike<number>,
  values: ArrayLike<number>,
  vectors: ArrayLike<number>,
  n: number,
): { residual: number; orthogonality: number } {
  let residual = 0;
  let orthogonality = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let av = 0;
      let vtv = 0;
      for (let k = 0; k < n; k++) {
        av += a[i * n + k] * vectors[k * n + j];
        vtv += vectors[k * n + i] * vectors[k * n + j];
      }
      residual = Math.max(residual, Math.abs(av - values[j] * vectors[i * n + j]));
      orthogonality = Math.max(orthogonality, Math.abs(vtv - (i === j ? 1 : 0)));
    }
  }
  return { residual, orthogonality };
}

function spectralScale(values: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < values.length; i++) scale = Math.max(scale, Math.abs(values[i]));
  return scale;
}

/** Every column's first largest-magnitude entry (as float32) is positive. */
function expectSignConvention(vectors: ArrayLike<number>, n: number, columns = n): void {
  for (let j = 0; j < columns; j++) {
    const column = Float64Array.from({ length: n }, (_, i) => vectors[i * columns + j]);
    expect(column[largestMagnitudeIndex(column, 0, 1, n)]).toBeGreaterThan(0);
  }
}

describe('eigh', () => {
  it('decomposes a 2×2 matrix by hand, first index winning the sign on a tie', () => {
    const { values, vectors } = eigh(
      Tensor.fromRows([
        [2, 1],
        [1, 2],
      ]),
    );
    const h = Math.SQRT1_2;
    expect(Array.from(values.data)).toEqual([1, 3].map(Math.fround));
    // λ = 1: (1, −1)/√2 with the first of the two equal magnitudes positive; λ = 3: (1, 1)/√2
    const expected = [h, h, -h, h];
    vectors.data.forEach((v, i) => {
      expect(v).toBeCloseTo(expected[i], 7);
    });
  });

  it('sorts a diagonal matrix and returns permuted unit vectors', () => {
    const { values, vectors } = eigh(
      Tensor.fromRows([
        [3, 0, 0],
        [0, -1, 0],
        [0, 0, 2],
      ]),
    );
    expect(Array.from(values.data)).toEqual([-1, 2, 3]);
    expect(vectors.toArray()).toEqual([
      [0, 0, 1],
      [1, 0, 0],
      [0, 1, 0],
    ]);
  });

  it('handles n = 1 and n = 0', () => {
    const one = eigh(new Tensor([1, 1], [-2.5]));
    expect(Array.from(one.values.data)).toEqual([-2.5]);
    expect(Array.from(one.vectors.data)).toEqual([1]);
    const empty = eigh(new Tensor([0, 0]));
    expect(empty.values.shape).toEqual([0]);
    expect(empty.vectors.shape).toEqual([0, 0]);
  });

  it('returns an orthonormal basis for the identity', () => {
    const { values, vectors } = eigh(Tensor.eye(6));
    expect(Array.from(values.data)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(Array.from(vectors.data)).toEqual(Array.from(Tensor.eye(6).data));
  });

  it('matches the closed form of the second-difference matrix to float64 accuracy', () => {
    // tridiag(−1, 2, −1) of size n has eigenvalues 2 − 2cos(kπ/(n+1)), k = 1…n, all distinct
    const n = 50;
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      a[i * n + i] = 2;
      if (i > 0) a[i * n + i - 1] = -1; // lower triangle only: eighF64 must symmetrize from it
    }
    const { values, vectors } = eighF64(a, n);
    for (let k = 1; k <= n; k++) {
      expect(Math.abs(values[k - 1] - (2 - 2 * Math.cos((k * Math.PI) / (n + 1))))).toBeLessThan(1e-13);
    }
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) a[i * n + j] = a[j * n + i];
    const { residual, orthogonality } = eigenErrors(a, values, vectors, n);
    expect(residual).toBeLessThan(1e-13);
    expect(orthogonality).toBeLessThan(1e-13);
  });

  it('decomposes random symmetric matrices to ~1e-12 relative in float64', () => {
    const rng = new Rng(21);
    for (const n of [2, 3, 17, 96]) {
      const a = randomSymmetric(n, rng);
      const { values, vectors } = eighF64(a, n);
      const { residual, orthogonality } = eigenErrors(a, values, vectors, n);
      expect(residual).toBeLessThan(1e-12 * spectralScale(values));
      expect(orthogonality).toBeLessThan(1e-12);
      for (let i = 1; i < n; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]);
      let trace = 0;
      let sum = 0;
      for (let i = 0; i < n; i++) {
        trace += a[i * n + i];
        sum += values[i];
      }
      expect(Math.abs(trace - sum)).toBeLessThan(1e-12 * n * spectralScale(values));
      expectSignConvention(vectors, n);
    }
  });

  it('decomposes a float32 tensor, reading only its lower triangle', () => {
    const rng = new Rng(22);
    const n = 40;
    const a = randomSymmetric(n, rng);
    const A = new Tensor([n, n], Float32Array.from(a));
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) A.data[i * n + j] = 1e6; // upper triangle ignored
    const { values, vectors } = eigh(A);
    expect(values.shape).toEqual([n]);
    expect(vectors.shape).toEqual([n, n]);
    const { residual, orthogonality } = eigenErrors(a, values.data, vectors.data, n);
    expect(residual).toBeLessThan(1e-5 * spectralScale(values.data));
    expect(orthogonality).toBeLessThan(1e-5);
    expectSignConvention(vectors.data, n);
    const reference = eighF64(a, n);
    values.data.forEach((v, i) => {
      expect(v).toBe(Math.fround(reference.values[i]));
    });
  });

  it('handles repeated eigenvalues', () => {
    const rng = new Rng(23);
    const lambda = [4, -2, 1, 1, 1, 4];
    const a = withSpectrum(randomOrthogonal(6, rng), lambda);
    const { values, vectors } = eighF64(a, 6);
    [-2, 1, 1, 1, 4, 4].forEach((v, i) => {
      expect(Math.abs(values[i] - v)).toBeLessThan(1e-13);
    });
    const { residual, orthogonality } = eigenErrors(a, values, vectors, 6);
    expect(residual).toBeLessThan(1e-13);
    expect(orthogonality).toBeLessThan(1e-13);

    // rank one plus identity: one eigenvalue 1 + ‖u‖², the rest exactly 1
    const n = 30;
    const u = Float64Array.from({ length: n }, () => rng.normal());
    const b = new Float64Array(n * n);
    let uu = 0;
    for (let i = 0; i < n; i++) {
      uu += u[i] * u[i];
      for (let j = 0; j < n; j++) b[i * n + j] = (i === j ? 1 : 0) + u[i] * u[j];
    }
    const r = eighF64(b, n);
    for (let i = 0; i < n - 1; i++) expect(Math.abs(r.values[i] - 1)).toBeLessThan(1e-13 * uu);
    expect(Math.abs(r.values[n - 1] - 1 - uu)).toBeLessThan(1e-13 * uu);
    const errors = eigenErrors(b, r.values, r.vectors, n);
    expect(errors.residual).toBeLessThan(1e-13 * uu);
    expect(errors.orthogonality).toBeLessThan(1e-13);
  });

  it('handles a zero matrix and matrices with widely different scales', () => {
    const zero = eigh(new Tensor([4, 4]));
    expect(Array.from(zero.values.data)).toEqual([0, 0, 0, 0]);
    expect(Array.from(zero.vectors.data)).toEqual(Array.from(Tensor.eye(4).data));
    const rng = new Rng(24);
    for (const scale of [1e-30, 1e30]) {
      const a = randomSymmetric(12, rng).map((v) => v * scale);
      const { values, vectors } = eighF64(a, 12);
      const { residual, orthogonality } = eigenErrors(a, values, vectors, 12);
      expect(residual).toBeLessThan(1e-12 * spectralScale(values));
      expect(orthogonality).toBeLessThan(1e-12);
    }
  });

  it('rejects non-square and non-finite input', () => {
    expect(() => eigh(new Tensor([3, 4]))).toThrow(ShapeError);
    expect(() => eigh(new Tensor([3, 4]))).toThrow(/eigh: A has shape \[3,4\]/);
    expect(() => eigh(new Tensor([2, 2, 2]))).toThrow(ShapeError);
    const bad = Tensor.eye(3);
    bad.data[5] = Number.NaN;
    expect(() => eigh(bad)).toThrow(RangeError);
    expect(() => eigh(bad)).toThrow(/entry 5/);
  });
});
