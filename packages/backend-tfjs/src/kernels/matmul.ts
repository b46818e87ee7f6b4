import { type MatmulOptions, matmulDims } from '@blastkit/core';
import { kernel } from './kernel.js';
import { matMul } from './mat-mul.js';

/** op(A)·op(B), 2-D or batched over a leading axis (a batch of 1 broadcasts, as tfjs' batched matMul does). */
export const matmul = kernel<MatmulOptions>({
  name: 'matmul',
  shapes: ([a, b], options) => [matmulDims(a, b, options).outShape],
  run: ([a, b], options) => [matMul(a, b, options.transposeA ?? false, options.transposeB ?? false)],
});
