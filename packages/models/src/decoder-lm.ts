import type { Backend, BackendTensor } from '@blastkit/core';

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
