import { type BackendTensor, expectShape } from '@blastkit/core';
import type { GpuTensor, Runtime } from '../runtime.js';
import { binary } from './binary.js';
import { gemm } from './gemm.js';

/**
 * x·Wᵀ (+ bias): x [N, n], weight [m, n], bias [m] → [N, m]; the bias is added in the GEMM epilogue. A weight
 * past the device's storage-binding cap (a large vocabulary's output head) is bound in row blocks, one GEMM
 * per block writing its columns of the output, and the bias is then added in a pass of its own.
 */
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
  const a = { tensor: x, ld: n, batchStride: 0 };
  const c = { tensor: out, ld: m, batchStride: 0 };
  if (m * n * 4 <= rt.maxBindingBytes) {
    gemm(rt, {
      M: N,
      N: m,
      K: n,
      batch: 1,
      a,
      b: { tensor: w, ld: n, batchStride: 0, transpose: true },
      c,
      bias,
    });
    return out;
  }
  // rows per block: its binding, aligned down to the offset alignment, must stay within the cap
  const rowsPerBlock = Math.floor(
    (rt.maxBindingBytes - rt.device.limits.minStorageBufferOffsetAlignment) / (n * 4),
  );
  for (let m0 = 0; m0 < m; m0 += rowsPerBlock) {
    const rows = Math.min(rowsPerBlock, m - m0);
    const { range, skip } = rt.rangeOf(w, m0 * n, rows * n);
    gemm(rt, {
      M: N,
      N: rows,
      K: n,
      batch: 1,
      a,
      b: { tensor: w, range, offset: skip, ld: n, batchStride: 0, transpose: true },
      c: { ...c, offset: m0 },
    });
  }
  if (!bias) return out;
  const withBias = binary(rt, 'add', out, bias);
  rt.release(out);
  return withBias;
}
