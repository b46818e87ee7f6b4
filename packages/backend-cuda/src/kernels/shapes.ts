import { formatShape, InvalidArgumentError, ShapeError, shapeSize } from '@blastkit/core';
import { MAX_RANK } from '../native-addon.js';

/** N for an x of shape [N, width], else the reference's error for `what`. */
export function expectRows(what: string, x: { shape: readonly number[] }, width: number): number {
  if (x.shape.length !== 2 || x.shape[1] !== width) {
    throw new ShapeError(`${what}: x has shape ${formatShape(x.shape)}, expected [N,${width}]`);
  }
  return x.shape[0];
}

/** Rows of the last axis: count and width, for the row-wise kernels (as the CPU reference counts them). */
export function rowsOf(shape: readonly number[], what: string): { rows: number; width: number } {
  if (shape.length === 0) throw new ShapeError(`${what}: expected at least one axis, got a scalar`);
  const width = shape[shape.length - 1];
  return { rows: width === 0 ? 0 : shapeSize(shape) / width, width };
}

/** Row-major element strides of a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = acc;
    acc *= shape[i];
  }
  return strides;
}

/**
 * Merges axes a strided kernel can walk as one (for every operand, the outer stride equals the inner stride
 * times the inner size) and drops axes of size 1, so most calls reach the addon with rank 1 or 2. Throws when
 * more than MAX_RANK axes remain.
 */
export function coalesce(
  what: string,
  dims: readonly number[],
  ...strides: (readonly number[])[]
): { dims: number[]; strides: number[][] } {
  const outDims: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let axis = 0; axis < dims.length; axis++) {
    if (dims[axis] === 1) continue;
    const last = outDims.length - 1;
    const mergeable = last >= 0 && strides.every((s, k) => outStrides[k][last] === s[axis] * dims[axis]);
    if (mergeable) {
      outDims[last] *= dims[axis];
      strides.forEach((s, k) => {
        outStrides[k][last] = s[axis];
      });
    } else {
      outDims.push(dims[axis]);
      strides.forEach((s, k) => {
        outStrides[k].push(s[axis]);
      });
    }
  }
  if (outDims.length > MAX_RANK) {
    throw new InvalidArgumentError(
      `${what}: shape ${formatShape(dims)} has more than ${MAX_RANK} axes that cannot be merged (the CUDA kernels take ${MAX_RANK})`,
    );
  }
  return { dims: outDims, strides: outStrides };
}
