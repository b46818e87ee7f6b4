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

/** Logits [T, V] of one forward pass over `ids` (a fresh cache, freed after). */
export async function logitsOf(model: CausalLm, ids: Int32Array): Promise<Float32Array> {
  const be = model.backend;
  const cache = model.newCache() as never;
  const handle = model.forward(ids, cache);
  const logits = (await be.download(handle)).data;
  be.dispose(handle);
  model.disposeCache(cache);
  return logits;
}

/** One position's softmax normaliser: log Σ_v exp(l_v), and the first most likely token. */
export interface RowNormaliser {
  logSum: number;
  argmax: number;
  /** Σ_v exp(l_v − max): what `exps` holds divided by, for probabilities. */
  sum: number;
}

/**
 * The normaliser of the logits `row` (float64 sums, as the float32 logits allow); `exps`, when given (length V),
 * receives exp(l_v − max), so a caller needing probabilities does not take the exponentials twice.
 */
export function normalise(row: Float32Array, exps?: Float64Array): RowNormaliser {
  let max = Number.NEGATIVE_INFINITY;
  let argmax = 0;
  for (let v = 0; v < row.length; v++)
    if (row[v] > max) {
      max = row[v];
      argmax = v;
    }
  let sum = 0;
  if (exps)
    for (let v = 0; v < row.length; v++) {
      const e = Math.exp(row[v] - max);
      exps[v] = e;
      sum += e;
    }
  else for (let v = 0; v < row.length; v++) sum += Math.exp(row[v] - max);
  return { logSum: max + Math.log(sum), argmax, sum };
}

/** Log-probabilities [T, V] (float64) of every position of one forward pass over `ids`. */
export async function logProbabilities(model: CausalLm, ids: Int32Array): Promise<Float64Array> {
  const logits = await logitsOf(model, ids);
  const V = model.config.vocabSize;
  const out = new Float64Array(logits.length);
  for (let t = 0; t < ids.length; t++) {
    const row = logits.subarray(t * V, (t + 1) * V);
    const { logSum } = normalise(row);
    for (let v = 0; v < V; v++) out[t * V + v] = row[v] - logSum;
  }
  return out;
}
