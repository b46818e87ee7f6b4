import { describe, expect, it } from 'vitest';
import { NotPositiveDefiniteError, ShapeError } from '../../errors.js';
import { Rng } from '../../random/rng.js';
import { Tensor } from '../../tensor/tensor.js';
import { choleskyFactorInPlace, choleskySolve, choleskySubstituteInPlace } from './cholesky-solve.js';

function randomTensor(shape: number[], rng: Rng): Tensor {
  const t = new Tensor(shape);
  for (let i = 0; i < t.size; i++) t.data[i] = rng.normal();
  return t;
}

/** A batch of well-conditioned SPD matrices M·Mᵀ + r·I. */
function randomSpd(batch: number, r: number, rng: Rng): Tensor {
  const M = randomTensor([batch, r, r], rng);
  const A = new Tensor([batch, r, r]);
  for (let b = 0; b < batch; b++) {
    const o = b * r * r;
    for (let i = 0; i < r; i++) {
      for (let j = 0; j < r; j++) {
        let s = i === j ? r : 0;
        for (let k = 0; k < r; k++) s += M.data[o + i * r + k] * M.data[o + j * r + k];
        A.data[o + i * r + j] = s;
      }
    }
  }
  return A;
}

/** max over systems of ‖A_k X_k − B_k‖_max / ‖B_k‖_max, in float64 on the float32 inputs. */
function relativeResidual(A: Tensor, X: Tensor, B: Tensor): number {
  const r = A.shape[A.rank - 1];
  const c = B.shape[B.rank - 1];
  const batch = A.size / (r * r);
  let worst = 0;
  for (let b = 0; b < batch; b++) {
    let residual = 0;
    let scale = 0;
    for (let i = 0; i < r; i++) {
      for (let j = 0; j < c; j++) {
        let s = 0;
        for (let k = 0; k < r; k++) s += A.data[b * r * r + i * r + k] * X.data[b * r * c + k * c + j];
        const bij = B.data[b * r * c + i * c + j];
        residual = Math.max(residual, Math.abs(s - bij));
        scale = Math.max(scale, Math.abs(bij));
      }
    }
    worst = Math.max(worst, residual / scale);
  }
  return worst;
}

describe('choleskySolve', () => {
  it('solves a 2×2 system by hand', () => {
    // 4x + 2y = 2, 2x + 3y = 1 → x = 1/2, y = 0; second column: 4x + 2y = 6, 2x + 3y = 7 → x = 1/2, y = 2
    const X = choleskySolve(
      Tensor.fromRows([
        [4, 2],
        [2, 3],
      ]),
      Tensor.fromRows([
        [2, 6],
        [1, 7],
      ]),
    );
    expect(X.shape).toEqual([2, 2]);
    expect(Array.from(X.data)).toEqual([0.5, 0.5, 0, 2]);
  });

  it('solves a batch of random SPD systems with several right-hand sides', () => {
    const rng = new Rng(11);
    const A = randomSpd(7, 16, rng);
    const B = randomTensor([7, 16, 5], rng);
    const X = choleskySolve(A, B);
    expect(X.shape).toEqual([7, 16, 5]);
    expect(relativeResidual(A, X, B)).toBeLessThan(1e-5);
  });

  it('is accurate on an ill-conditioned system because it works in float64', () => {
    // A = L·Lᵀ with L unit lower triangular of small integers: condition number ≈ 5e9, far past what a
    // float32 factorisation survives, yet A, the integer solution and B = A·X are all exact in float32
    const r = 8;
    const L = new Float64Array(r * r);
    for (let i = 0; i < r; i++) {
      L[i * r + i] = 1;
      for (let j = 0; j < i; j++) L[i * r + j] = 1 + ((3 * i + j) % 4);
    }
    const A = new Tensor([1, r, r]);
    for (let i = 0; i < r; i++) {
      for (let j = 0; j < r; j++) {
        for (let k = 0; k < r; k++) A.data[i * r + j] += L[i * r + k] * L[j * r + k];
      }
    }
    const solution = Array.from({ length: r }, (_, i) => (i % 3) - 1 + i);
    const B = new Tensor([1, r, 1]);
    for (let i = 0; i < r; i++) for (let j = 0; j < r; j++) B.data[i] += A.data[i * r + j] * solution[j];
    const X = choleskySolve(A, B);
    X.data.forEach((x, i) => {
      expect(Math.abs(x - solution[i])).toBeLessThan(1e-4);
    });
  });

  it('reads only the lower triangle of A', () => {
    const rng = new Rng(12);
    const A = randomSpd(3, 6, rng);
    const B = randomTensor([3, 6, 2], rng);
    const garbled = A.clone();
    for (let b = 0; b < 3; b++)
      for (let i = 0; i < 6; i++)
        for (let j = i + 1; j < 6; j++) garbled.data[b * 36 + i * 6 + j] = Number.NaN;
    expect(Array.from(choleskySolve(garbled, B).data)).toEqual(Array.from(choleskySolve(A, B).data));
  });

  it('handles r = 1 and empty right-hand sides', () => {
    const X = choleskySolve(new Tensor([2, 1, 1], [4, 0.5]), new Tensor([2, 1, 3], [8, 4, -2, 1, 2, 3]));
    expect(Array.from(X.data)).toEqual([2, 1, -0.5, 2, 4, 6]);
    expect(choleskySolve(Tensor.eye(3), new Tensor([3, 0])).shape).toEqual([3, 0]);
  });

  it('names the system and the pivot of a matrix that is not positive definite', () => {
    const A = new Tensor([3, 4, 4]);
    for (let b = 0; b < 3; b++) for (let i = 0; i < 4; i++) A.data[b * 16 + i * 4 + i] = 1;
    A.data[16 + 2 * 4 + 2] = -1; // system 1, pivot 2
    const B = new Tensor([3, 4, 1]);
    expect(() => choleskySolve(A, B)).toThrow(NotPositiveDefiniteError);
    expect(() => choleskySolve(A, B)).toThrow(/system 1 .*pivot 2 is -1/);
  });

  it('rejects a singular matrix and non-finite pivots', () => {
    const singular = Tensor.fromRows([
      [1, 2],
      [2, 4],
    ]);
    expect(() => choleskySolve(singular, new Tensor([2, 1]))).toThrow(/pivot 1 is 0/);
    const withNaN = Tensor.eye(3);
    withNaN.data[4] = Number.NaN;
    expect(() => choleskySolve(withNaN, new Tensor([3, 1]))).toThrow(NotPositiveDefiniteError);
    const withInfinity = Tensor.eye(3);
    withInfinity.data[2 * 3 + 0] = Number.POSITIVE_INFINITY; // lower triangle, off the diagonal
    expect(() => choleskySolve(withInfinity, new Tensor([3, 1]))).toThrow(/pivot 2/);
  });

  it('rejects shapes that do not fit, naming the input', () => {
    expect(() => choleskySolve(new Tensor([2, 5, 5]), new Tensor([2, 3, 4]))).toThrow(
      new ShapeError('choleskySolve: B has shape [2,3,4], expected [2,5,*]'),
    );
    expect(() => choleskySolve(new Tensor([2, 5, 5]), new Tensor([3, 5, 4]))).toThrow(
      /B has shape \[3,5,4\]/,
    );
    expect(() => choleskySolve(new Tensor([5, 5]), new Tensor([1, 5, 4]))).toThrow(
      /B has shape .* expected \[5,\*\]/,
    );
    expect(() => choleskySolve(new Tensor([2, 5, 4]), new Tensor([2, 5, 4]))).toThrow(ShapeError);
    expect(() => choleskySolve(new Tensor([2, 5, 4]), new Tensor([2, 5, 4]))).toThrow(
      /A has shape \[2,5,4\]/,
    );
    expect(() => choleskySolve(new Tensor([5]), new Tensor([5, 1]))).toThrow(/A has shape \[5\]/);
  });
});

describe('choleskyFactorInPlace / choleskySubstituteInPlace', () => {
  it('factors A = L·Lᵀ in float64 and reuses the factor at an offset', () => {
    const rng = new Rng(13);
    const r = 9;
    const A = randomSpd(1, r, rng);
    const buffer = new Float64Array(5 + r * r);
    buffer.set(A.data, 5);
    expect(choleskyFactorInPlace(buffer, r, 5)).toBe(-1);
    let worst = 0;
    for (let i = 0; i < r; i++) {
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let k = 0; k <= j; k++) s += buffer[5 + i * r + k] * buffer[5 + j * r + k];
        worst = Math.max(worst, Math.abs(s - A.data[i * r + j]));
      }
    }
    expect(worst).toBeLessThan(1e-12 * r);

    const rhs = new Float64Array(3 + r * 2);
    for (let i = 0; i < rhs.length; i++) rhs[i] = rng.normal();
    const original = rhs.slice();
    choleskySubstituteInPlace(buffer, r, rhs, 2, 5, 3);
    for (let i = 0; i < 3; i++) expect(rhs[i]).toBe(original[i]);
    for (let i = 0; i < r; i++) {
      for (let j = 0; j < 2; j++) {
        let s = 0;
        for (let k = 0; k < r; k++) s += A.data[i * r + k] * rhs[3 + k * 2 + j];
        expect(Math.abs(s - original[3 + i * 2 + j])).toBeLessThan(1e-11);
      }
    }
  });

  it('returns the index of the first bad pivot', () => {
    const a = Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0, 0]);
    expect(choleskyFactorInPlace(a, 3)).toBe(2);
  });
});
