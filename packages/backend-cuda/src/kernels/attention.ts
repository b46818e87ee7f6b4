import { type AttentionOptions, attentionDims, type BackendTensor } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';

/**
 * Scaled dot-product attention with grouped-query heads (see Backend.attention): one block per (query, head),
 * an online softmax over chunks of 128 keys; causal masking from queryOffset, as the CPU reference.
 */
export function attention(
  rt: Runtime,
  qIn: BackendTensor,
  kIn: BackendTensor,
  vIn: BackendTensor,
  options: AttentionOptions,
): CudaTensor {
  const q = rt.tensor(qIn, 'attention q');
  const k = rt.tensor(kIn, 'attention k');
  const v = rt.tensor(vIn, 'attention v');
  const { N, hq, d, S, hkv } = attentionDims(q.shape, k.shape, v.shape);
  const scale = options.scale ?? 1 / Math.sqrt(d);
  const out = rt.alloc([N, hq, d], 'attention output');
  rt.native.attention(
    rt.ctx,
    out.id,
    q.id,
    k.id,
    v.id,
    N,
    hq,
    S,
    hkv,
    d,
    Boolean(options.causal),
    scale,
    options.queryOffset ?? 0,
  );
  return out;
}
