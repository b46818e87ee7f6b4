import type { Backend, BackendTensor } from '@blastkit/core';
import { ModelFormatError } from './tensor-source.js';

/**
 * What generation and calibration need from a decoder-only language model (Llama, GPT-2): a KV-cache forward,
 * the context length and, for calibration, an observer of every linear's inputs.
 */
export interface DecoderLm<Cache extends { readonly length: number }> {
  readonly backend: Backend;
  readonly config: {
    readonly vocabSize: number;
    readonly maxPositionEmbeddings: number;
    readonly eosTokenId?: number;
    /** Every EOS id, when the config lists several (generation stops at any). */
    readonly eosTokenIds?: readonly number[];
  };
  newCache(): Cache;
  forward(
    ids: Int32Array,
    cache: Cache,
    options?: { lastOnly?: boolean; observe?: (module: string, input: BackendTensor) => void },
  ): BackendTensor;
  disposeCache(cache: Cache): void;
  /** [out, in] of a linear, by module name. */
  linearShape(module: string): readonly [number, number];
}

/** Keys and values seen so far, per layer: [positions, kvHeads, headDim]. Shared by the decoder adapters. */
export interface KvCache {
  length: number;
  k: (BackendTensor | undefined)[];
  v: (BackendTensor | undefined)[];
}

/** An empty cache. */
export function newKvCache(): KvCache {
  return { length: 0, k: [], v: [] };
}

/** Throws unless `ids` is a non-empty run of ids in [0, vocabSize): the checks every decoder forward starts with. */
export function checkTokenIds(ids: Int32Array, vocabSize: number): void {
  if (ids.length === 0) throw new ModelFormatError('forward', 'no tokens to run');
  for (const id of ids)
    if (!(id >= 0 && id < vocabSize))
      throw new RangeError(`token id ${id} is outside the vocabulary [0, ${vocabSize})`);
}

/**
 * Appends one layer's keys and values of this pass to the cache and returns the layer's whole K and V. The cache
 * owns copies (the pass's k and v are freed with its temporaries); the previous tensors are freed.
 */
export function appendKv(
  be: Backend,
  cache: KvCache,
  layer: number,
  k: BackendTensor,
  v: BackendTensor,
): [BackendTensor, BackendTensor] {
  const prevK = cache.k[layer];
  const prevV = cache.v[layer];
  const K = be.concat(prevK ? [prevK, k] : [k], 0);
  const V = be.concat(prevV ? [prevV, v] : [v], 0);
  if (prevK) be.dispose(prevK);
  if (prevV) be.dispose(prevV);
  cache.k[layer] = K;
  cache.v[layer] = V;
  return [K, V];
}

/** Frees every tensor of the cache and empties it. */
export function disposeKvCache(be: Backend, cache: KvCache): void {
  for (const h of [...cache.k, ...cache.v]) if (h) be.dispose(h);
  cache.k = [];
  cache.v = [];
  cache.length = 0;
}
