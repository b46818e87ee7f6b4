import { cpuKernels, formatShape, InvalidArgumentError, type RopeOptions, ShapeError } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { kernel } from './kernel.js';

interface RopeAttrs {
  positions: Int32Array;
  options: RopeOptions;
}

/** cos and sin of position·frequency for each row and pair, computed in float64 on the host: [N, 1, half]. */
function tables(positions: Int32Array, inv: Float64Array, positionScale: number) {
  const half = inv.length;
  const cos = new Float32Array(positions.length * half);
  const sin = new Float32Array(positions.length * half);
  positions.forEach((p, t) => {
    const pos = p * positionScale;
    for (let i = 0; i < half; i++) {
      cos[t * half + i] = Math.cos(pos * inv[i]);
      sin[t * half + i] = Math.sin(pos * inv[i]);
    }
  });
  const shape: [number, number, number] = [positions.length, 1, half];
  return { cos: tf.tensor3d(cos, shape), sin: tf.tensor3d(sin, shape) };
}

/**
 * Rotary embedding of x [N, heads, headDim]: the first rotaryDim entries of each head rotate in pairs —
 * (i, i + d/2) by default (Hugging Face's rotate_half), (2i, 2i+1) when interleaved — the rest pass through.
 */
export const rope = kernel<RopeAttrs>({
  name: 'rope',
  shapes: ([x], { positions, options }) => {
    if (x.length !== 3)
      throw new ShapeError(`rope: x has shape ${formatShape(x)}, expected [N,heads,headDim]`);
    const [N, , d] = x;
    if (positions.length !== N)
      throw new ShapeError(`rope: ${positions.length} positions for ${N} rows of x`);
    const rd = options.rotaryDim ?? d;
    if (rd % 2 !== 0 || rd > d || rd <= 0) {
      throw new InvalidArgumentError(`rope: rotaryDim ${rd} must be even and within headDim ${d}`);
    }
    cpuKernels.ropeInvFrequencies(options, rd); // checks invFrequencies' length
    return [[...x]];
  },
  run: ([x], { positions, options }) => {
    const [N, heads, d] = x.shape;
    const rd = options.rotaryDim ?? d;
    const half = rd / 2;
    const { cos, sin } = tables(
      positions,
      cpuKernels.ropeInvFrequencies(options, rd),
      options.positionScale ?? 1,
    );
    const rotary = rd === d ? x : tf.slice(x, [0, 0, 0], [N, heads, rd]);
    let x0: tf.Tensor;
    let x1: tf.Tensor;
    if (options.interleaved) {
      const pairs = tf.reshape(rotary, [N, heads, half, 2]);
      x0 = tf.reshape(tf.slice(pairs, [0, 0, 0, 0], [N, heads, half, 1]), [N, heads, half]);
      x1 = tf.reshape(tf.slice(pairs, [0, 0, 0, 1], [N, heads, half, 1]), [N, heads, half]);
    } else {
      x0 = tf.slice(rotary, [0, 0, 0], [N, heads, half]);
      x1 = tf.slice(rotary, [0, 0, half], [N, heads, half]);
    }
    const y0 = tf.sub(tf.mul(x0, cos), tf.mul(x1, sin));
    const y1 = tf.add(tf.mul(x1, cos), tf.mul(x0, sin));
    const rotated = options.interleaved
      ? tf.reshape(tf.stack([y0, y1], 3), [N, heads, rd])
      : tf.concat([y0, y1], 2);
    return [rd === d ? rotated : tf.concat([rotated, tf.slice(x, [0, 0, rd], [N, heads, d - rd])], 2)];
  },
});
