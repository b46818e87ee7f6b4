import { InvalidArgumentError, Rng } from '@blastkit/core';
import type { TfLlama } from './tf-llama.js';

export interface SampleOptions {
  /** How many sequences. */
  sequences: number;
  /** Tokens per sequence, the leading BOS included (at most the model's context). */
  length: number;
  seed: number;
  /** Default 1. */
  temperature?: number;
  /** Nucleus mass (default 0.9). */
  topP?: number;
  /** Sequences decoded together (default 64: a decoding step costs mostly per-op overhead, so wider is faster). */
  batch?: number;
  /** BOS id that starts every sequence (default the config's, else 1). */
  bos?: number;
  signal?: AbortSignal;
  onProgress?: (tokensDone: number, tokensTotal: number) => void;
}

/** A per-sequence seed, so sequence i is the same whatever the batch size. */
function sequenceSeed(seed: number, i: number): number {
  let h = Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2d) ^ Math.imul(i + 1, 0x165667b1);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
}

/**
 * Samples `sequences` texts from a model, each [BOS, t₁ … t_{length−1}], with temperature and top-p
 * (llama2.c's sample_topp rule, as @blastkit/models' generate), batched through the KV cache. Seeded per
 * sequence: the same seed gives the same tokens. End-of-sequence tokens are kept like any other, so every
 * sequence has exactly `length` tokens (a story may end and another begin).
 */
export async function sampleSequences(model: TfLlama, options: SampleOptions): Promise<Int32Array[]> {
  const { sequences, length } = options;
  const temperature = options.temperature ?? 1;
  const topP = options.topP ?? 0.9;
  const batch = options.batch ?? 64;
  const ctx = model.config.maxPositionEmbeddings;
  if (!Number.isInteger(sequences) || sequences <= 0)
    throw new InvalidArgumentError(`sampleSequences: sequences must be a positive integer, got ${sequences}`);
  if (!Number.isInteger(length) || length < 2 || length > ctx)
    throw new InvalidArgumentError(`sampleSequences: length must be in [2, ${ctx}], got ${length}`);
  if (!(temperature > 0)) throw new InvalidArgumentError(`sampleSequences: temperature must be > 0`);
  if (!(topP > 0 && topP <= 1)) throw new InvalidArgumentError(`sampleSequences: topP must be in (0, 1]`);
  const bos = options.bos ?? model.config.bosTokenId ?? 1;
  const V = model.config.vocabSize;
  const out: Int32Array[] = [];
  const total = sequences * (length - 1);
  for (let first = 0; first < sequences; first += batch) {
    const B = Math.min(batch, sequences - first);
    const rngs = Array.from({ length: B }, (_, k) => new Rng(sequenceSeed(options.seed, first + k)));
    const seqs = Array.from({ length: B }, () => {
      const s = new Int32Array(length);
      s[0] = bos;
      return s;
    });
    const cache = model.newDecodeCache();
    try {
      for (let t = 0; t < length - 1; t++) {
        if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
        const handle = model.decode(
          Int32Array.from(seqs, (s) => s[t]),
          cache,
        );
        const logits = handle.dataSync() as Float32Array;
        handle.dispose();
        for (let k = 0; k < B; k++)
          seqs[k][t + 1] = sampleTopP(logits.subarray(k * V, (k + 1) * V), temperature, topP, rngs[k]);
        options.onProgress?.(first * (length - 1) + B * (t + 1), total);
        // let the event loop breathe (Ctrl-C, progress) between steps
        if (t % 16 === 15) await new Promise((r) => setImmediate(r));
      }
    } finally {
      model.disposeDecodeCache(cache);
    }
    out.push(...seqs);
  }
  return out;
}

let scratch = new Float64Array(0);

/** Softmax at a temperature, top-p truncation (llama2.c's sample_topp), one draw. */
export function sampleTopP(logits: Float32Array, temperature: number, topP: number, rng: Rng): number {
  const n = logits.length;
  if (scratch.length < n) scratch = new Float64Array(n);
  const e = scratch;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += e[i] = Math.exp((logits[i] - max) / temperature);
  // probabilities are e[i]/sum; thresholds and masses are compared unnormalised (× sum)
  const target = topP * sum;
  // The nucleus is the most probable tokens in descending order until their mass exceeds topP. Tokens
  // below (1 − topP)/(n − 1) can never be in it; and if the tokens above some threshold already hold more
  // than topP, the nucleus lies among them — so only a few dozen tokens are ever sorted, not thousands.
  const floor = topP < 1 ? ((1 - topP) / (n - 1)) * sum : 0;
  let candidates: number[] = [];
  for (let threshold = topP < 1 ? 1e-2 * sum : 0; ; threshold /= 10) {
    const c = Math.max(threshold, floor);
    candidates = [];
    let mass = 0;
    for (let i = 0; i < n; i++)
      if (e[i] >= c) {
        candidates.push(i);
        mass += e[i];
      }
    if (mass > target || c === floor) break;
  }
  if (topP < 1) {
    candidates.sort((a, b) => e[b] - e[a] || a - b);
    let mass = 0;
    for (let k = 0; k < candidates.length; k++) {
      mass += e[candidates[k]];
      if (mass > target) {
        candidates = candidates.slice(0, k + 1);
        break;
      }
    }
  }
  let kept = 0;
  for (const i of candidates) kept += e[i];
  const r = rng.uniform() * kept;
  let acc = 0;
  for (const i of candidates) {
    acc += e[i];
    if (r < acc) return i;
  }
  return candidates[candidates.length - 1];
}
