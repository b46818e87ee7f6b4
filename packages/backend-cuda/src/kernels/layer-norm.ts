import { type BackendTensor, expectShape } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';
import { rowsOf } from './shapes.js';

/** LayerNorm over the last axis (biased variance, as PyTorch), one block per row. */
export function layerNorm(
  rt: Runtime,
  xIn: BackendTensor,
  weightIn: BackendTensor,
  biasIn: BackendTensor,
  eps: number,
): CudaTensor {
  const x = rt.tensor(xIn, 'layerNorm x');
  const weight = rt.tensor(weightIn, 'layerNorm weight');
  const bias = rt.tensor(biasIn, 'layerNorm bias');
  const { rows, width } = rowsOf(x.shape, 'layerNorm');
  expectShape('layerNorm: weight', weight.shape, [width]);
  expectShape('layerNorm: bias', bias.shape, [width]);
  const out = rt.alloc(x.shape, 'layerNorm output');
  rt.native.layerNorm(rt.ctx, out.id, x.id, weight.id, bias.id, rows, width, eps);
  return out;
}
