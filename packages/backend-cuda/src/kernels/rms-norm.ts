import { type BackendTensor, expectShape } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';
import { rowsOf } from './shapes.js';

/** Llama's RMSNorm over the last axis: x·(mean(x²) + eps)^-½·weight, one block per row. */
export function rmsNorm(rt: Runtime, xIn: BackendTensor, weightIn: BackendTensor, eps: number): CudaTensor {
  const x = rt.tensor(xIn, 'rmsNorm x');
  const weight = rt.tensor(weightIn, 'rmsNorm weight');
  const { rows, width } = rowsOf(x.shape, 'rmsNorm');
  expectShape('rmsNorm: weight', weight.shape, [width]);
  const out = rt.alloc(x.shape, 'rmsNorm output');
  rt.native.rmsNorm(rt.ctx, out.id, x.id, weight.id, rows, width, eps);
  return out;
}
