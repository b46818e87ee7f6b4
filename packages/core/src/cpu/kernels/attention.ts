import type { AttentionOptions } from '../../backend/backend.js';
import { expectShape, formatShape, ShapeError } from '../../errors.js';
import { Tensor } from '../../tensor/tensor.js';

let scores = new Float64Array(0);

/** Scaled dot-product attention with grouped-query heads (see Backend.attention). */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions): Tensor {
  if (q.rank !== 3)
    throw new ShapeError(`attention: q has shape ${formatShape(q.shape)}, expected [N,heads,headDim]`);
  const [N, hq, d] = q.shape;
  if (k.rank !== 3)
    throw new ShapeError(`attention: k has shape ${formatShape(k.shape)}, expected [S,kvHeads,${d}]`);
  const [S, hkv] = k.shape;
  expectShape('attention: k', k.shape, [S, hkv, d]);
  expectShape('attention: v', v.shape, [S, hkv, d]);
  if (hq % hkv !== 0)
    throw new ShapeError(`attention: ${hq} query heads is not a multiple of ${hkv} key/value heads`);
  const group = hq / hkv;
  const scale = options.scale ?? 1 / Math.sqrt(d);
  const offset = options.queryOffset ?? 0;
  if (scores.length < S) scores = new Float64Array(S);
  const out = new Tensor([N, hq, d]);
  const qd = q.data;
  const kd = k.data;
  const vd = v.data;
  const o = out.data;
  for (let t = 0; t < N; t++) {
    const visible = options.causal ? Math.min(S, offset + t + 1) : S;
    for (let h = 0; h < hq; h++) {
      const kvh = Math.floor(h / group);
      const qo = (t * hq + h) * d;
      let max = Number.NEGATIVE_INFINITY;
      for (let s = 0; s < visible; s++) {
        const ko = (s * hkv + kvh) * d;
        let dot = 0;
        for (let c = 0; c < d; c++) dot += qd[qo + c] * kd[ko + c];
        scores[s] = dot * scale;
        if (scores[s] > max) max = scores[s];
      }
      let sum = 0;
      for (let s = 0; s < visible; s++) {
        scores[s] = Math.exp(scores[s] - max);
        sum += scores[s];
      }
      const oo = (t * hq + h) * d;
      for (let s = 0; s < visible; s++) {
        const p = scores[s] / sum;
        const vo = (s * hkv + kvh) * d;
        for (let c = 0; c < d; c++) o[oo + c] += p * vd[vo + c];
      }
    }
  }
  return out;
}
