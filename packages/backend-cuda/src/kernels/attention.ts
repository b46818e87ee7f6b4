import {
  type AttentionOptions,
  type BackendTensor,
  expectShape,
  formatShape,
  ShapeError,
} from '@blastkit/core';
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
  if (q.shape.length !== 3)
    throw new ShapeError(`attention: q has shape ${formatShape(q.shape)}, expected [N,heads,headDim]`);
  const [N, hq, d] = q.shape;
  if (k.shape.length !== 3)
    throw new ShapeError(`attention: k has shape ${formatShape(k.shape)}, expected [S,kvHeads,${d}]`);
  const [S, hkv] = k.shape;
  expectShape('attention: k', k.shape, [S, hkv, d]);
  expectShape('attention: v', v.shape, [S, hkv, d]);
  if (hkv === 0 || hq % hkv !== 0)
    throw new ShapeError(`attention: ${hq} query heads is not a multiple of ${hkv} key/value heads`);
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
