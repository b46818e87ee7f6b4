import { formatShape, ShapeError } from '@blastkit/core';
import { hostKernel } from './kernel.js';

/** Symmetric eigendecomposition: a CPU hand-off to the float64 reference (tfjs has no eigensolver). */
export const eigh = hostKernel({
  name: 'eigh',
  shapes: ([A]) => {
    if (A.length !== 2 || A[0] !== A[1]) {
      throw new ShapeError(`eigh: A has shape ${formatShape(A)}, expected [n,n]`);
    }
    return [[A[0]], [A[0], A[0]]];
  },
  handoff: 'eigh',
});
