import {
  type BackendTensor,
  cpuKernels,
  formatShape,
  InvalidArgumentError,
  type RopeOptions,
  ShapeError,
} from '@blastkit/core';
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
  if (x.shape.length !== 3)
    throw new ShapeError(`rope: x has shape ${formatShape(x.shape)}, expected [N,heads,headDim]`);
  const [N, heads, d] = x.shape;
  if (positions.length !== N) throw new ShapeError(`rope: ${positions.length} positions for ${N} rows of x`);
  const rd = options.rotaryDim ?? d;
  if (rd % 2 !== 0 || rd > d || rd <= 0) {
    throw new InvalidArgumentError(`rope: rotaryDim ${rd} must be even and within headDim ${d}`);
  }
  const half = rd / 2;
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
