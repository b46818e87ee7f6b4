import type { Backend, BackendTensor } from '@blastkit/core';

/**
 * What the evaluation needs from a language model: any blastkit adapter with a KV-cache forward (Llama, GPT-2)
 * fits, structurally, without this package depending on the models package.
 */
export interface CausalLm {
  readonly backend: Backend;
  readonly config: { readonly vocabSize: number; readonly maxPositionEmbeddings: number };
  newCache(): unknown;
  forward(ids: Int32Array, cache: never, options?: { lastOnly?: boolean }): BackendTensor;
  disposeCache(cache: never): void;
}

/** Log-probabilities [T, V] (float64) of every position of one forward pass over `ids`. */
export async function logProbabilities(model: CausalLm, ids: Int32Array): Promise<Float64Array> {
  const be = model.backend;
  const cache = model.newCache() as never;
  const handle = model.forward(ids, cache);
  const logits = (await be.download(handle)).data;
  be.dispose(handle);
  model.disposeCache(cache);
  const V = model.config.vocabSize;
  const out = new Float64Array(logits.length);
  for (let t = 0; t < ids.length; t++) {
    let max = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < V; v++) max = Math.max(max, logits[t * V + v]);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[t * V + v] - max);
    const log = max + Math.log(sum);
    for (let v = 0; v < V; v++) out[t * V + v] = logits[t * V + v] - log;
  }
  return out;
}
