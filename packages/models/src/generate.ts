import { InvalidArgumentError, Rng } from '@blastkit/core';
import type { DecoderLm } from './decoder-lm.js';
import { stopTokenIds } from './hf/special-tokens.js';

export interface GenerateOptions {
  /** New tokens to produce at most (default 64). */
  maxTokens?: number;
  /** 0 (default) = greedy; otherwise logits are divided by it before sampling. */
  temperature?: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability reaches topP (default 1 = off). */
  topP?: number;
  seed?: number;
  /** Stop at this token (default: the model's EOS ids — any of them, when config.json lists several). */
  stopToken?: number;
  /** Called with each new token as it is chosen. */
  onToken?: (token: number) => void;
  signal?: AbortSignal;
}

/**
 * Continues `prompt` (token ids, BOS included if the model expects it): the prompt runs in one forward pass,
 * then one token per step through the KV cache. Seeded: the same seed gives the same tokens.
 */
export async function generate<Cache extends { readonly length: number }>(
  model: DecoderLm<Cache>,
  prompt: readonly number[],
  options: GenerateOptions = {},
): Promise<number[]> {
  const maxTokens = options.maxTokens ?? 64;
  const temperature = options.temperature ?? 0;
  const topP = options.topP ?? 1;
  if (!(temperature >= 0)) throw new RangeError(`temperature must be ≥ 0, got ${temperature}`);
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`topP must be in (0, 1], got ${topP}`);
  if (prompt.length === 0) throw new RangeError('generate: the prompt has no tokens');
  const limit = model.config.maxPositionEmbeddings;
  // the positions past the context do not exist: such a prompt cannot be run (it would give no tokens at all)
  if (prompt.length > limit)
    throw new InvalidArgumentError(
      `the prompt has ${prompt.length} tokens but the model's context is ${limit}; shorten it to at most ${limit}`,
    );
  const rng = new Rng(options.seed ?? 0);
  const stop = new Set(options.stopToken === undefined ? stopTokenIds(model.config) : [options.stopToken]);
  const be = model.backend;
  const cache = model.newCache();
  const out: number[] = [];
  try {
    let input = Int32Array.from(prompt);
    while (out.length < maxTokens && cache.length + input.length <= limit) {
      if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
      const handle = model.forward(input, cache, { lastOnly: true });
      let next: number;
      if (temperature === 0) {
        // greedy: the backend's argmax (first index on ties, as a host argmax), so one number comes back per
        // token instead of the whole vocabulary's logits
        const best = be.argmax(handle);
        next = (await be.download(best)).data[0];
        be.dispose(best);
      } else next = sample((await be.download(handle)).data, temperature, topP, rng);
      be.dispose(handle);
      out.push(next);
      options.onToken?.(next);
      if (stop.has(next)) break;
      input = Int32Array.of(next);
    }
    return out;
  } finally {
    model.disposeCache(cache);
  }
}

/**
 * The tokens the top-p nucleus is drawn from, unsorted: those with probability ≥ τ for the largest τ among
 * max/8, max/64, … (`max`: the largest probability) whose tokens hold more than topP of the mass (the nucleus, a prefix of the tokens by
 * falling probability, then lies among them), else llama2.c's bound (1 − topP)/(n − 1), below which no token
 * can be in it. Sorting a few dozen tokens instead of thousands, the nucleus is the same.
 */
function nucleusCandidates(probs: Float64Array, max: number, topP: number): number[] {
  const n = probs.length;
  const floor = (1 - topP) / (n - 1);
  for (let threshold = max / 8; threshold > floor; threshold /= 8) {
    let mass = 0;
    for (let i = 0; i < n; i++) if (probs[i] >= threshold) mass += probs[i];
    // a margin over rounding: these are summed in index order, the nucleus's prefix in sorted order
    if (mass > topP + 1e-9) return indicesAtLeast(probs, threshold);
  }
  return indicesAtLeast(probs, floor);
}

function indicesAtLeast(probs: Float64Array, threshold: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < probs.length; i++) if (probs[i] >= threshold) out.push(i);
  return out;
}

/** Softmax at a temperature, then top-p truncation (as llama2.c's sample_topp), then one draw. */
function sample(logits: Float32Array, temperature: number, topP: number, rng: Rng): number {
  const n = logits.length;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[i]);
  const probs = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    probs[i] = Math.exp((logits[i] - max) / temperature);
    sum += probs[i];
  }
  for (let i = 0; i < n; i++) probs[i] /= sum;
  let candidates: number[];
  if (topP < 1) {
    // the most likely token's probability: exp(0)/sum, exactly as the loop above divided it
    candidates = nucleusCandidates(probs, 1 / sum, topP);
    candidates.sort((a, b) => probs[b] - probs[a] || a - b);
    let mass = 0;
    let keep = candidates.length;
    for (let k = 0; k < candidates.length; k++) {
      mass += probs[candidates[k]];
      if (mass > topP) {
        keep = k + 1;
        break;
      }
    }
    candidates = candidates.slice(0, keep);
  } else candidates = Array.from({ length: n }, (_, i) => i);
  let total = 0;
  for (const i of candidates) total += probs[i];
  const r = rng.uniform() * total;
  let acc = 0;
  for (const i of candidates) {
    acc += probs[i];
    if (r < acc) return i;
  }
  return candidates[candidates.length - 1];
}
