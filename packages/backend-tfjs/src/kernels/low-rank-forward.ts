import { expectShape, formatShape, ShapeError } from '@blastkit/core';
import { kernel } from './kernel.js';
import { matMul } from './mat-mul.js';
import { expectRows } from './structured-shapes.js';

/** Low-rank A = U·Vᵀ: (x·V)·Uᵀ, two matMuls through the [N, r] bottleneck. */
export const lowRankForward = kernel({
  name: 'lowRankForward',
  shapes: ([x, U, V]) => {
    if (U.length !== 2) throw new ShapeError(`lowRankForward: U has shape ${formatShape(U)}, expected [m,r]`);
    const [m, r] = U;
    expectShape('lowRankForward: V', V, [-1, r]);
    const N = expectRows('lowRankForward', x, V[0]);
    return [[N, m]];
  },
  run: ([x, U, V]) => [matMul(matMul(x, V), U, false, true)],
});
