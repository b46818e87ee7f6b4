import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, ShapeError } from '../../errors.js';
import { Rng } from '../../random/rng.js';
import { Tensor } from '../../tensor/tensor.js';
import { largestMagnitudeIndex } from './eigh.js';
import { truncatedSvd } from './truncated-svd.js';

function randomTensor(shape: number[], rng: Rng): Tensor {
  const t = new Tensor(shape);
  for (let i = 0; i < t.size; i++) t.data[i] = rng.normal();
  return t;
}

/** P·Qᵀ for P [m, r], Q [n, r]: a matrix of rank r (rounded to float32). */
function lowRank(m: number, n: number, r: number, rng: Rng): Tensor {
  const P = randomTensor([m, r], rng);
  const Q = randomTensor([n, r], rng);
  const A = new Tensor([m, n]);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < r; t++) s += P.data[i * r + t] * Q.data[j * r + t];
      A.data[i * n + j] = s;
    }
  }
  return A;
}

function transpose(A: Tensor): Tensor {
  const [m, n] = A.shape;
  const T = new Tensor([n, m]);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) T.data[j * m + i] = A.data[i * n + j];
  return T;
}

function frobenius(A: Tensor): number {
  let s = 0;
  for (const v of A.data) s += v * v;
  return Math.sqrt(s);
}

/** ‖A − U·diag(S)·Vᵀ‖_F in float64. */
function reconstructionError(A: Tensor, U: Tensor, S: Tensor, V: Tensor): number {
  const [m, n] = A.shape;
  const k = S.size;
  let s = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let approx = 0;
      for (let t = 0; t < k; t++) approx += U.data[i * k + t] * S.data[t] * V.data[j * k + t];
      s += (A.data[i * n + j] - approx) ** 2;
    }
  }
  return Math.sqrt(s);
}

/** max |QᵀQ − I| for Q [rows, k]. */
function orthonormalityError(Q: Tensor): number {
  const [rows, k] = Q.shape;
  let worst = 0;
  for (let a = 0; a < k; a++) {
    for (let b = 0; b <= a; b++) {
      let s = 0;
      for (let i = 0; i < rows; i++) s += Q.data[i * k + a] * Q.data[i * k + b];
      worst = Math.max(worst, Math.abs(s - (a === b ? 1 : 0)));
    }
  }
  return worst;
}

function expectValidTriplets(U: Tensor, S: Tensor, V: Tensor, tolerance = 1e-5): void {
  expect(orthonormalityError(U)).toBeLessThan(tolerance);
  expect(orthonormalityError(V)).toBeLessThan(tolerance);
  for (let t = 0; t < S.size; t++) {
    expect(S.data[t]).toBeGreaterThanOrEqual(0);
    if (t > 0) expect(S.data[t]).toBeLessThanOrEqual(S.data[t - 1]);
  }
  const [n, k] = V.shape;
  for (let t = 0; t < k; t++) {
    const column = Float64Array.from({ length: n }, (_, i) => V.data[i * k + t]);
    expect(column[largestMagnitudeIndex(column, 0, 1, n)]).toBeGreaterThan(0);
  }
}

describe('truncatedSvd', () => {
  it('decomposes a small matrix by hand, signing each triplet by its V column', () => {
    const { U, S, V } = truncatedSvd(
      Tensor.fromRows([
        [3, 0],
        [0, -2],
        [0, 0],
      ]),
      2,
    );
    expect(Array.from(S.data)).toEqual([3, 2]);
    expect(V.toArray()).toEqual([
      [1, 0],
      [0, 1],
    ]);
    expect(U.toArray()).toEqual([
      [1, 0],
      [0, -1],
      [0, 0],
    ]);
  });

  it('reconstructs a rank-k matrix exactly, tall and wide', () => {
    const rng = new Rng(31);
    const tall = lowRank(50, 30, 5, rng);
    for (const A of [tall, transpose(tall)]) {
      const { U, S, V } = truncatedSvd(A, 5);
      expect(U.shape).toEqual([A.shape[0], 5]);
      expect(S.shape).toEqual([5]);
      expect(V.shape).toEqual([A.shape[1], 5]);
      expectValidTriplets(U, S, V);
      expect(reconstructionError(A, U, S, V) / frobenius(A)).toBeLessThan(1e-5);
    }
  });

  it('gives the same singular values for A and Aᵀ, with U and V exchanged', () => {
    const rng = new Rng(32);
    const A = randomTensor([30, 80], rng);
    const wide = truncatedSvd(A, 10);
    const tall = truncatedSvd(transpose(A), 10);
    wide.S.data.forEach((s, t) => {
      expect(Math.abs(s - tall.S.data[t])).toBeLessThan(1e-6 * wide.S.data[0]);
    });
    // same subspaces (signs aside): |⟨u_wide, v_tall⟩| = 1 per triplet
    for (let t = 0; t < 10; t++) {
      let dot = 0;
      for (let i = 0; i < 30; i++) dot += wide.U.data[i * 10 + t] * tall.V.data[i * 10 + t];
      expect(Math.abs(Math.abs(dot) - 1)).toBeLessThan(1e-5);
    }
  });

  it('reaches the Eckart–Young optimum on a random 60×40 matrix', () => {
    const rng = new Rng(33);
    const A = randomTensor([60, 40], rng);
    const full = truncatedSvd(A, 40);
    expectValidTriplets(full.U, full.S, full.V);
    let energy = 0;
    for (const s of full.S.data) energy += s * s;
    expect(Math.abs(energy - frobenius(A) ** 2) / energy).toBeLessThan(1e-6);
    expect(reconstructionError(A, full.U, full.S, full.V) / frobenius(A)).toBeLessThan(1e-5);
    for (const k of [1, 7, 20, 39]) {
      const { U, S, V } = truncatedSvd(A, k);
      expectValidTriplets(U, S, V);
      S.data.forEach((s, t) => {
        expect(Math.abs(s - full.S.data[t])).toBeLessThan(1e-6 * full.S.data[0]);
      });
      let discarded = 0;
      for (let t = k; t < 40; t++) discarded += full.S.data[t] ** 2;
      const optimum = Math.sqrt(discarded);
      expect(Math.abs(reconstructionError(A, U, S, V) - optimum) / optimum).toBeLessThan(1e-4);
    }
  });

  it('stays orthonormal when k exceeds the rank', () => {
    const rng = new Rng(34);
    const A = lowRank(20, 10, 2, rng);
    for (const M of [A, transpose(A)]) {
      const { U, S, V } = truncatedSvd(M, 6);
      expectValidTriplets(U, S, V);
      for (let t = 2; t < 6; t++) expect(S.data[t]).toBeLessThan(1e-6 * S.data[0]);
      expect(reconstructionError(M, U, S, V) / frobenius(M)).toBeLessThan(1e-5);
    }
  });

  it('completes the basis deterministically for exactly zero singular values', () => {
    const zero = truncatedSvd(new Tensor([4, 3]), 3);
    expect(Array.from(zero.S.data)).toEqual([0, 0, 0]);
    expect(zero.U.toArray()).toEqual([
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
      [0, 0, 0],
    ]);
    expectValidTriplets(zero.U, zero.S, zero.V);

    // two zero columns: σ₃ = σ₄ = 0 exactly, and the unit vectors e₀, e₁ already lie in the recovered span
    const rng = new Rng(35);
    const A = new Tensor([6, 4]);
    for (let i = 0; i < 6; i++) for (let j = 0; j < 2; j++) A.data[i * 4 + j] = rng.normal();
    const { U, S, V } = truncatedSvd(A, 4);
    expect(S.data[2]).toBe(0);
    expect(S.data[3]).toBe(0);
    expectValidTriplets(U, S, V);
    expect(reconstructionError(A, U, S, V) / frobenius(A)).toBeLessThan(1e-6);
  });

  it('handles vectors and k = 1', () => {
    const row = new Tensor([1, 4], [0, 3, 0, -4]);
    const r = truncatedSvd(row, 1);
    expect(Array.from(r.S.data)).toEqual([5]);
    expect(Array.from(r.U.data)).toEqual([-1]);
    r.V.data.forEach((v, i) => {
      expect(v).toBeCloseTo([0, -0.6, 0, 0.8][i], 7);
    });
    const column = truncatedSvd(transpose(row), 1);
    expect(Array.from(column.S.data)).toEqual([5]);
    expect(Array.from(column.V.data)).toEqual([1]);
  });

  it('stays accurate on a layer-sized matrix', () => {
    const rng = new Rng(36);
    const A = randomTensor([192, 72], rng);
    const { U, S, V } = truncatedSvd(A, 36);
    expectValidTriplets(U, S, V);
  });

  it('rejects a k outside [1, min(m, n)], a non-matrix and non-finite entries', () => {
    const A = new Tensor([5, 3]);
    for (const k of [0, 4, 1.5, -1, Number.NaN])
      expect(() => truncatedSvd(A, k)).toThrow(InvalidArgumentError);
    expect(() => truncatedSvd(A, 4)).toThrow(/k = 4 must be an integer in \[1, 3\]/);
    expect(() => truncatedSvd(new Tensor([15]), 1)).toThrow(ShapeError);
    const bad = new Tensor([5, 3]);
    bad.data[7] = Number.POSITIVE_INFINITY;
    expect(() => truncatedSvd(bad, 2)).toThrow(RangeError);
    expect(() => truncatedSvd(bad, 2)).toThrow(/entry 7/);
  });
});
