import { type CausalLm, logProbabilities } from './causal-lm.js';
import { checkAborted } from './stats.js';
import { slidingWindows, type WindowProtocol } from './windows.js';

/** Progress and cancellation of a sliding-window evaluation. */
export interface WindowRunOptions {
  /** Called after each window with the windows done and their total. */
  onWindow?: (done: number, total: number) => void;
  /** Checked before each window. */
  signal?: AbortSignal;
}

export interface PerplexityResult {
  perplexity: number;
  /** Mean negative log-likelihood per scored token, nats. */
  nll: number;
  tokens: number;
  protocol: WindowProtocol;
}

export interface ComparisonResult {
  tokens: number;
  protocol: WindowProtocol;
  reference: { perplexity: number; nll: number };
  candidate: { perplexity: number; nll: number };
  /** Mean KL(reference ‖ candidate) of the next-token distributions, nats per token. */
  klDivergence: number;
  /** Fraction of scored positions where both models' most likely next token agrees. */
  top1Agreement: number;
}

/** The default protocol for a model: full-context windows, half-window stride, no prefix. */
export function defaultProtocol(model: CausalLm, overrides: Partial<WindowProtocol> = {}): WindowProtocol {
  const window = overrides.window ?? model.config.maxPositionEmbeddings;
  return {
    window,
    stride: overrides.stride ?? Math.floor(window / 2),
    prefixToken: overrides.prefixToken ?? null,
  };
}

/** Token-level perplexity of `tokens` under `model`, sliding-window protocol (recorded in the result). */
export async function perplexity(
  model: CausalLm,
  tokens: readonly number[],
  protocol: WindowProtocol = defaultProtocol(model),
  options: WindowRunOptions = {},
): Promise<PerplexityResult> {
  const V = model.config.vocabSize;
  let nll = 0;
  let count = 0;
  const windows = slidingWindows(tokens, protocol);
  for (const [i, w] of windows.entries()) {
    checkAborted(options.signal);
    const lp = await logProbabilities(model, w.ids);
    for (let t = w.scoredFrom; t < w.ids.length - 1; t++) {
      nll -= lp[t * V + w.ids[t + 1]];
      count++;
    }
    options.onWindow?.(i + 1, windows.length);
  }
  return { perplexity: Math.exp(nll / count), nll: nll / count, tokens: count, protocol };
}

/**
 * A candidate (compressed) model against its reference (dense) on the same tokens and windows: both
 * perplexities, the mean KL of next-token distributions and top-1 agreement.
 */
export async function compareModels(
  reference: CausalLm,
  candidate: CausalLm,
  tokens: readonly number[],
  protocol: WindowProtocol = defaultProtocol(reference),
  options: WindowRunOptions = {},
): Promise<ComparisonResult> {
  const V = reference.config.vocabSize;
  if (candidate.config.vocabSize !== V)
    throw new RangeError(`vocabularies differ: ${V} vs ${candidate.config.vocabSize}`);
  let nllP = 0;
  let nllQ = 0;
  let kl = 0;
  let agree = 0;
  let count = 0;
  const windows = slidingWindows(tokens, protocol);
  for (const [i, w] of windows.entries()) {
    checkAborted(options.signal);
    const p = await logProbabilities(reference, w.ids);
    const q = await logProbabilities(candidate, w.ids);
    for (let t = w.scoredFrom; t < w.ids.length - 1; t++) {
      const next = w.ids[t + 1];
      nllP -= p[t * V + next];
      nllQ -= q[t * V + next];
      let argP = 0;
      let argQ = 0;
      for (let v = 0; v < V; v++) {
        const lp = p[t * V + v];
        kl += Math.exp(lp) * (lp - q[t * V + v]);
        if (lp > p[t * V + argP]) argP = v;
        if (q[t * V + v] > q[t * V + argQ]) argQ = v;
      }
      if (argP === argQ) agree++;
      count++;
    }
    options.onWindow?.(i + 1, windows.length);
  }
  return {
    tokens: count,
    protocol,
    reference: { perplexity: Math.exp(nllP / count), nll: nllP / count },
    candidate: { perplexity: Math.exp(nllQ / count), nll: nllQ / count },
    klDivergence: kl / count,
    top1Agreement: agree / count,
  };
}
