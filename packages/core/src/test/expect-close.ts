import { formatShape, ShapeError } from '../errors.js';
import type { Rng } from '../random/rng.js';
import { relativeFrobeniusError } from '../tensor/norms.js';
import { Tensor } from '../tensor/tensor.js';

export interface Tolerance {
  /** Allowed error relative to the largest magnitude in the expected tensor. */
  relative: number;
  /** Allowed error on top of the relative part. */
  absolute: number;
}

/**
 * Compares two tensors entry by entry against max|expected|·relative + absolute — the scale of the whole
 * tensor, not of each entry, because GEMM-like outputs legitimately lose relative accuracy on entries that
 * cancel. Returns null when close enough, else a message naming the worst entry.
 */
export function closeness(actual: Tensor, expected: Tensor, tol: Tolerance): string | null {
  if (actual.shape.length !== expected.shape.length || actual.shape.some((d, i) => d !== expected.shape[i])) {
    return `shape ${formatShape(actual.shape)}, expected ${formatShape(expected.shape)}`;
  }
  let scale = 0;
  for (let i = 0; i < expected.size; i++) scale = Math.max(scale, Math.abs(expected.data[i]));
  const allowed = tol.absolute + tol.relative * scale;
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < expected.size; i++) {
    const err = Math.abs(actual.data[i] - expected.data[i]);
    if (!(err <= allowed) && (worst < 0 || !(err <= worstErr))) {
      worst = i;
      worstErr = err;
    }
  }
  if (worst < 0) return null;
  return `entry ${worst}: got ${actual.data[worst]}, expected ${expected.data[worst]} (error ${worstErr.toExponential(3)} > allowed ${allowed.toExponential(3)} = ${tol.absolute} + ${tol.relative}·${scale.toExponential(3)})`;
}

/** Relative Frobenius distance ‖a − b‖ / ‖b‖ (the core function under the name the tests use). */
export const relativeError = relativeFrobeniusError;

/** A tensor of N(0, std²) entries from the given generator. */
export function randomTensor(shape: readonly number[], rng: Rng, std = 1): Tensor {
  const t = new Tensor(shape);
  rng.fillNormal(t.data, std);
  return t;
}

/**
 * max |actual − expected| / max |expected| over all entries: how far a whole table of outputs (logits, images) is
 * from its golden values, relative to the table's largest value. Sizes must match.
 */
export function maxRelativeError(actual: Tensor, expected: ArrayLike<number>): number {
  if (actual.size !== expected.length)
    throw new ShapeError(`maxRelativeError: ${actual.size} values, expected ${expected.length}`);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    err = Math.max(err, Math.abs(actual.data[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return err / scale;
}
