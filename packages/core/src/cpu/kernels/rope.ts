import type { RopeOptions } from '../../backend/backend.js';
import { formatShape, InvalidArgumentError, ShapeError } from '../../errors.js';
import { Tensor } from '../../tensor/tensor.js';

/** The inverse frequencies θ^(−2i/d) for i < d/2, or the caller's own (scaled RoPE variants). */
export function ropeInvFrequencies(options: RopeOptions, rotaryDim: number): Float64Array {
  const half = rotaryDim / 2;
  if (options.invFrequencies) {
    if (options.invFrequencies.length !== half) {
      throw new InvalidArgumentError(
        `rope: invFrequencies has ${options.invFrequencies.length} entries, expected ${half}`,
      );
    }
    return Float64Array.from(options.invFrequencies);
  }
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = options.theta ** (-(2 * i) / rotaryDim);
  return inv;
}

/** Rotary position embedding of x [N, heads, headDim] (see RopeOptions for the two pairings). */
export function rope(x: Tensor, positions: Int32Array, options: RopeOptions): Tensor {
  if (x.rank !== 3)
    throw new ShapeError(`rope: x has shape ${formatShape(x.shape)}, expected [N,heads,headDim]`);
  const [N, heads, d] = x.shape;
  if (positions.length !== N) throw new ShapeError(`rope: ${positions.length} positions for ${N} rows of x`);
  const rd = options.rotaryDim ?? d;
  if (rd % 2 !== 0 || rd > d || rd <= 0) {
    throw new InvalidArgumentError(`rope: rotaryDim ${rd} must be even and within headDim ${d}`);
  }
  const half = rd / 2;
  const inv = ropeInvFrequencies(options, rd);
  const scalePos = options.positionScale ?? 1;
  const interleaved = options.interleaved ?? false;
  const out = new Tensor(x.shape, x.data.slice());
  const cos = new Float64Array(half);
  const sin = new Float64Array(half);
  const xd = x.data;
  const o = out.data;
  for (let t = 0; t < N; t++) {
    const pos = positions[t] * scalePos;
    for (let i = 0; i < half; i++) {
      cos[i] = Math.cos(pos * inv[i]);
      sin[i] = Math.sin(pos * inv[i]);
    }
    for (let h = 0; h < heads; h++) {
      const off = (t * heads + h) * d;
      for (let i = 0; i < half; i++) {
        const a = interleaved ? off + 2 * i : off + i;
        const b = interleaved ? a + 1 : a + half;
        const x0 = xd[a];
        const x1 = xd[b];
        o[a] = x0 * cos[i] - x1 * sin[i];
        o[b] = x1 * cos[i] + x0 * sin[i];
      }
    }
  }
  return out;
}
