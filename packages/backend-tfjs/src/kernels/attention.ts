import { type AttentionOptions, attentionDims } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { kernel } from './kernel.js';
import { matMul } from './mat-mul.js';

/**
 * Scaled dot-product attention with grouped-query heads, as batched matMuls over the kv heads: query head h
 * reads kv head ⌊h/group⌋, so the query heads of one kv head stack into one [group·N, d] operand. Causal
 * masking adds −∞ to the scores of keys past each query's position (queryOffset + row); exp(−∞) is 0, so
 * masked keys get exactly zero weight, as in the reference. A query before the first key sees none: zero output.
 */
export const attention = kernel<AttentionOptions>({
  name: 'attention',
  shapes: ([q, k, v]) => {
    const { N, hq, d } = attentionDims(q, k, v);
    return [[N, hq, d]];
  },
  run: ([q, k, v], options) => {
    const [N, hq, d] = q.shape;
    const [S, hkv] = k.shape;
    const group = hq / hkv;
    const scale = options.scale ?? 1 / Math.sqrt(d);
    // [N, hq, d] → [hq, N, d] = [hkv, group·N, d]: head h = kvh·group + g
    const qh = tf.reshape(tf.transpose(q, [1, 0, 2]), [hkv, group * N, d]);
    const kh = tf.transpose(k, [1, 0, 2]); // [hkv, S, d]
    const vh = tf.transpose(v, [1, 0, 2]);
    let scores = tf.mul(matMul(qh, kh, false, true), tf.scalar(scale)); // [hkv, group·N, S]
    // queries that see no key (a negative queryOffset) get zero output, as in the reference: their row is
    // left unmasked (a softmax over all −∞ would be NaN) and their output multiplied by 0 afterwards
    let blind = 0;
    if (options.causal) {
      const offset = options.queryOffset ?? 0;
      const mask = new Float32Array(N * S);
      for (let t = 0; t < N; t++) {
        const visible = Math.max(0, Math.min(S, offset + t + 1));
        if (visible === 0) blind++;
        else mask.fill(Number.NEGATIVE_INFINITY, t * S + visible, (t + 1) * S);
      }
      scores = tf.reshape(tf.add(tf.reshape(scores, [hkv, group, N, S]), tf.tensor4d(mask, [1, 1, N, S])), [
        hkv,
        group * N,
        S,
      ]);
    }
    let out = matMul(tf.softmax(scores), vh); // [hkv, group·N, d]
    if (blind > 0) {
      // the blind queries are the first ones (visibility grows with t)
      const keep = Float32Array.from({ length: N }, (_, t) => (t < blind ? 0 : 1));
      out = tf.reshape(tf.mul(tf.reshape(out, [hkv, group, N, d]), tf.tensor4d(keep, [1, 1, N, 1])), [
        hkv,
        group * N,
        d,
      ]);
    }
    return [tf.transpose(tf.reshape(out, [hq, N, d]), [1, 0, 2])];
  },
});
