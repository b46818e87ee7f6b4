import {
  type AttentionOptions,
  attentionDims,
  type BackendTensor,
  cpuKernels,
  formatShape,
  type RopeOptions,
  ropeDims,
  ShapeError,
} from '@blastkit/core';
import type { NativeTensor, Runtime } from '../runtime.js';

function int32(values: Int32Array | ArrayLike<number>): Int32Array {
  return values instanceof Int32Array ? values : Int32Array.from(values);
}

/** Rotary embedding of x [N, heads, headDim]; the angles' inverse frequencies come from the reference's rule. */
export function rope(
  rt: Runtime,
  x: BackendTensor,
  positions: Int32Array,
  options: RopeOptions,
): NativeTensor {
  const X = rt.tensor(x, 'rope x');
  const pos = int32(positions);
  const { N, heads, d, rd, half } = ropeDims(X.shape, pos.length, options.rotaryDim);
  const inv = cpuKernels.ropeInvFrequencies(options, rd);
  const y = rt.alloc(X.shape, 'rope output');
  rt.native.rope(
    rt.ctx,
    y.id,
    X.id,
    N,
    heads,
    d,
    half,
    options.interleaved ?? false,
    pos,
    inv,
    options.positionScale ?? 1,
  );
  return y;
}

/** Rows of table [V, d] for the ids; an id outside [0, V) is a RangeError naming it. */
export function embedding(rt: Runtime, table: BackendTensor, ids: Int32Array): NativeTensor {
  const T = rt.tensor(table, 'embedding table');
  if (T.shape.length !== 2) {
    throw new ShapeError(`embedding: table has shape ${formatShape(T.shape)}, expected [V,d]`);
  }
  const [V, d] = T.shape;
  const list = int32(ids);
  for (let t = 0; t < list.length; t++) {
    const id = list[t];
    if (id < 0 || id >= V) {
      throw new RangeError(`embedding: id ${id} at position ${t} is outside the vocabulary [0, ${V})`);
    }
  }
  const y = rt.alloc([list.length, d], 'embedding output');
  rt.native.embedding(rt.ctx, y.id, T.id, V, d, list);
  return y;
}

/**
 * The first key a query may not see, minus the query's row: `ceil(offset)` gives the reference's
 * `s < offset + t + 1` for any offset, and non-finite offsets become "every key" or "no key".
 */
function integerOffset(offset: number, N: number, S: number): number {
  if (Number.isNaN(offset) || offset === Number.NEGATIVE_INFINITY) return -(N + 1);
  if (offset === Number.POSITIVE_INFINITY) return S;
  return Math.max(-(N + 1), Math.min(S, Math.ceil(offset)));
}

/** Scaled dot-product attention with grouped-query heads; a query that sees no key gets zeros, as the reference. */
export function attention(
  rt: Runtime,
  q: BackendTensor,
  k: BackendTensor,
  v: BackendTensor,
  options: AttentionOptions,
): NativeTensor {
  const Q = rt.tensor(q, 'attention q');
  const K = rt.tensor(k, 'attention k');
  const Vt = rt.tensor(v, 'attention v');
  const { N, hq, d, S, hkv } = attentionDims(Q.shape, K.shape, Vt.shape);
  const scale = options.scale ?? 1 / Math.sqrt(d);
  const offset = integerOffset(options.queryOffset ?? 0, N, S);
  const y = rt.alloc([N, hq, d], 'attention output');
  rt.native.attention(rt.ctx, y.id, Q.id, K.id, Vt.id, N, hq, S, hkv, d, options.causal, scale, offset);
  return y;
}
