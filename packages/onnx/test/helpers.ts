import { Tensor } from '@blastkit/core';

/** Max |a−b| over max |b|: the relative error every logits check here uses. */
export function relError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`relError: ${a.length} values against ${b.length}`);
  let d = 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return d / s;
}

/**
 * W [out, in] as the q8 / q4 export stores it, back in float: q8 one scale per output row (amax/127); q4 blocks
 * of 32 inputs per output row (amax/7, zero point 8), as MatMulNBits.
 */
export function roundTrip(w: Tensor, dtype: 'q8' | 'q4'): Tensor {
  const [m, n] = w.shape;
  const out = new Tensor([m, n]);
  const block = dtype === 'q8' ? n : 32;
  const levels = dtype === 'q8' ? 127 : 7;
  for (let i = 0; i < m; i++)
    for (let b0 = 0; b0 < n; b0 += block) {
      let amax = 0;
      for (let j = b0; j < Math.min(n, b0 + block); j++) amax = Math.max(amax, Math.abs(w.data[i * n + j]));
      const s = amax > 0 ? amax / levels : 1;
      for (let j = b0; j < Math.min(n, b0 + block); j++) {
        const q = Math.round(w.data[i * n + j] / s);
        out.data[i * n + j] = (dtype === 'q8' ? q : Math.max(-8, Math.min(7, q))) * s;
      }
    }
  return out;
}
