import { InvalidArgumentError } from '@blastkit/core';
import type { TfLlama } from '../llama/tf-llama.js';

/** Perplexity of a set of sequences. */
export interface SequencePerplexity {
  perplexity: number;
  /** Mean negative log-likelihood per scored token, nats. */
  nll: number;
  tokens: number;
  /** What was scored, in words. */
  protocol: string;
}

/**
 * Token-level perplexity of whole sequences (each [BOS, t₁ … t_L], scored on t₁ … t_L given everything
 * before): the protocol of @blastkit/eval's `perplexity` with window = sequence length and a BOS prefix,
 * run as batches through the tfjs model. Sequences of one call must have equal lengths.
 */
export function sequencePerplexity(
  model: TfLlama,
  sequences: readonly Int32Array[],
  batch = 4,
): SequencePerplexity {
  if (sequences.length === 0) throw new InvalidArgumentError('sequencePerplexity: no sequences');
  const T = sequences[0].length;
  if (sequences.some((s) => s.length !== T))
    throw new InvalidArgumentError('sequencePerplexity: sequences must have equal lengths');
  const V = model.config.vocabSize;
  let nll = 0;
  let count = 0;
  for (let first = 0; first < sequences.length; first += batch) {
    const group = sequences.slice(first, first + batch);
    const ids = new Int32Array(group.length * T);
    group.forEach((s, k) => {
      ids.set(s, k * T);
    });
    const handle = model.logits(ids, group.length);
    const logits = handle.dataSync() as Float32Array;
    handle.dispose();
    for (let k = 0; k < group.length; k++) {
      for (let t = 0; t < T - 1; t++) {
        const o = (k * T + t) * V;
        let max = Number.NEGATIVE_INFINITY;
        for (let v = 0; v < V; v++) if (logits[o + v] > max) max = logits[o + v];
        let z = 0;
        for (let v = 0; v < V; v++) z += Math.exp(logits[o + v] - max);
        nll += max + Math.log(z) - logits[o + group[k][t + 1]];
        count++;
      }
    }
  }
  return {
    perplexity: Math.exp(nll / count),
    nll: nll / count,
    tokens: count,
    protocol: `${sequences.length} sequences of ${T} tokens (BOS first), every following token scored given all before it`,
  };
}
