import { formatShape, InvalidArgumentError, ShapeError } from '@blastkit/core';
import { hostKernel } from './kernel.js';

/** Truncated SVD: a CPU hand-off to the reference (its sign convention included; tfjs has no SVD). */
export const truncatedSvd = hostKernel<{ k: number }>({
  name: 'truncatedSvd',
  shapes: ([A], { k }) => {
    if (A.length !== 2) throw new ShapeError(`truncatedSvd: A has shape ${formatShape(A)}, expected [m,n]`);
    const [m, n] = A;
    if (!Number.isInteger(k) || k < 1 || k > Math.min(m, n)) {
      throw new InvalidArgumentError(
        `truncatedSvd: k = ${k} must be an integer in [1, ${Math.min(m, n)}] for a ${m}×${n} matrix`,
      );
    }
    return [[m, k], [k], [n, k]];
  },
  handoff: 'truncatedSvd',
});
