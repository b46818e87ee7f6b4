import { ShapeError } from '@blastkit/core';

/** Throws for a scalar (the row-wise kernels work along the last axis); returns that axis' width. */
export function lastAxis(what: string, x: readonly number[]): number {
  if (x.length === 0) throw new ShapeError(`${what}: expected at least one axis, got a scalar`);
  return x[x.length - 1];
}
