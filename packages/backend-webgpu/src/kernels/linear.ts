import { type BackendTensor, expectShape } from '@blastkit/core';
import type { GpuTensor, Runtime } from '../runtime.js';
import { gemm } from './gemm.js';

/** x·Wᵀ (+ bias): x [N, n], weight [m, n], bias [m] → [N, m]; the bias is added in the GEMM epilogue. */
export function linear(
  rt: Runtime,
  xIn: BackendTensor,
  wIn: BackendTensor,
  biasIn?: BackendTensor,
): GpuTensor {
  const x = rt.tensor(xIn, 'linear x');
  const w = rt.tensor(wIn, 'linear weight');
  const bias = biasIn && rt.tensor(biasIn, 'linear bias');
  expectShape('linear: weight', w.shape, [-1, -1]);
  const [m, n] = w.shape;
  expectShape('linear: x', x.shape, [-1, n]);
  if (bias) expectShape('linear: bias', bias.shape, [m]);
  const N = x.shape[0];
  const out = rt.alloc([N, m], 'linear output');
  if (N * m === 0) return out;
  gemm(rt, {
    M: N,
    N: m,
    K: n,
    batch: 1,
    a: { tensor: x, ld: n, batchStride: 0 },
    b: { tensor: w, ld: n, batchStride: 0, transpose: true },
    c: { tensor: out, ld: m, batchStride: 0 },
    bias,
  });
  return out;
}
