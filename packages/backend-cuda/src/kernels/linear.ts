import { type BackendTensor, expectShape } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';
import { gemmRowMajor } from './gemm.js';

/** x [N, n]·weightᵀ (+ bias [m]) → [N, m]: one cuBLAS GEMM, then the bias added by an epilogue kernel. */
export function linear(
  rt: Runtime,
  xIn: BackendTensor,
  weightIn: BackendTensor,
  biasIn?: BackendTensor,
): CudaTensor {
  const x = rt.tensor(xIn, 'linear x');
  const weight = rt.tensor(weightIn, 'linear weight');
  const bias = biasIn && rt.tensor(biasIn, 'linear bias');
  expectShape('linear: weight', weight.shape, [-1, -1]);
  const [m, n] = weight.shape;
  expectShape('linear: x', x.shape, [-1, n]);
  if (bias) expectShape('linear: bias', bias.shape, [m]);
  const N = x.shape[0];
  const y = rt.alloc([N, m], 'linear output');
  gemmRowMajor(rt, {
    M: N,
    N: m,
    K: n,
    batch: 1,
    a: { id: x.id, ld: n, stride: 0 },
    b: { id: weight.id, ld: n, stride: 0, transpose: true },
    c: { id: y.id, ld: m, stride: 0 },
  });
  if (bias) rt.native.addBias(rt.ctx, y.id, bias.id, N, m);
  return y;
}
