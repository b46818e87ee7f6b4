import { type BackendTensor, cpuKernels, type RopeOptions, ropeDims } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';

/**
 * Rotary embedding of x [N, heads, headDim] with the reference's options (theta, rotaryDim, interleaved,
 * positionScale, invFrequencies). The cos/sin table is computed on the host in float64 for the given
 * positions (N·rotaryDim/2 pairs, small), so large positions keep their accuracy.
 */
export function rope(
  rt: Runtime,
  xIn: BackendTensor,
  positions: Int32Array,
  options: RopeOptions,
): CudaTensor {
  const x = rt.tensor(xIn, 'rope x');
  const { N, heads, d, rd, half } = ropeDims(x.shape, positions.length, options.rotaryDim);
  const inv = cpuKernels.ropeInvFrequencies(options, rd);
  const scalePos = options.positionScale ?? 1;
  // cos for every (t, i), then sin: the layout of the addon's rope kernel
  const table = new Float32Array(2 * N * half);
  for (let t = 0; t < N; t++) {
    const pos = positions[t] * scalePos;
    for (let i = 0; i < half; i++) {
      table[t * half + i] = Math.cos(pos * inv[i]);
      table[N * half + t * half + i] = Math.sin(pos * inv[i]);
    }
  }
  const out = rt.alloc(x.shape, 'rope output');
  rt.native.rope(rt.ctx, out.id, x.id, N, heads, d, half, Boolean(options.interleaved), table);
  return out;
}
