import { type CausalLm, logitsOf, normalise } from './causal-lm.js';
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
  /** The same sums per window (or per sequence), for confidence intervals over windows (`bootstrapComparison`). */
  windows: WindowSums[];
}

/** One window's sums: scored tokens, both models' summed NLL, summed KL, top-1 agreements. */
export interface WindowSums {
  tokens: number;
  nllReference: number;
  nllCandidate: number;
  kl: number;
  agree: number;
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
    const logits = await logitsOf(model, w.ids);
    for (let t = w.scoredFrom; t < w.ids.length - 1; t++) {
      const row = logits.subarray(t * V, (t + 1) * V);
      nll -= row[w.ids[t + 1]] - normalise(row).logSum;
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
  const sums: WindowSums[] = [];
  const windows = slidingWindows(tokens, protocol);
  // exp(p_v − max) of the reference's row: its probabilities for the KL, taken once with its normaliser
  const exps = new Float64Array(V);
  for (const [i, w] of windows.entries()) {
    checkAborted(options.signal);
    const p = await logitsOf(reference, w.ids);
    const q = await logitsOf(candidate, w.ids);
    let nllP = 0;
    let nllQ = 0;
    let kl = 0;
    let agree = 0;
    let count = 0;
    for (let t = w.scoredFrom; t < w.ids.length - 1; t++) {
      const next = w.ids[t + 1];
      const rowP = p.subarray(t * V, (t + 1) * V);
      const rowQ = q.subarray(t * V, (t + 1) * V);
      const np = normalise(rowP, exps);
      const nq = normalise(rowQ);
      nllP -= rowP[next] - np.logSum;
      nllQ -= rowQ[next] - nq.logSum;
      // KL = Σ_v P_v (log P_v − log Q_v) = Σ_v P_v (p_v − q_v) − (logSum_p − logSum_q), as Σ_v P_v = 1
      let dot = 0;
      for (let v = 0; v < V; v++) dot += exps[v] * (rowP[v] - rowQ[v]);
      kl += dot / np.sum - (np.logSum - nq.logSum);
      if (np.argmax === nq.argmax) agree++;
      count++;
    }
    sums.push({ tokens: count, nllReference: nllP, nllCandidate: nllQ, kl, agree });
    options.onWindow?.(i + 1, windows.length);
  }
  return { ...summarizeWindows(sums), protocol };
}

/**
 * compareModels over independent sequences (e.g. texts sampled from the reference with different seeds), each
 * cut into windows on its own; `windows` then has one entry per sequence, so a bootstrap resamples sequences.
 */
export async function compareModelsOnSequences(
  reference: CausalLm,
  candidate: CausalLm,
  sequences: readonly (readonly number[])[],
  protocol: WindowProtocol = defaultProtocol(reference),
  options: WindowRunOptions = {},
): Promise<ComparisonResult> {
  const sums: WindowSums[] = [];
  for (const [i, ids] of sequences.entries()) {
    const r = await compareModels(reference, candidate, ids, protocol, { signal: options.signal });
    sums.push(sumOf(r.windows));
    options.onWindow?.(i + 1, sequences.length);
  }
  return { ...summarizeWindows(sums), protocol };
}

function sumOf(windows: readonly WindowSums[]): WindowSums {
  const t: WindowSums = { tokens: 0, nllReference: 0, nllCandidate: 0, kl: 0, agree: 0 };
  for (const w of windows) {
    t.tokens += w.tokens;
    t.nllReference += w.nllReference;
    t.nllCandidate += w.nllCandidate;
    t.kl += w.kl;
    t.agree += w.agree;
  }
  return t;
}

/** The comparison's figures from per-window sums (token-weighted means). */
export function summarizeWindows(windows: WindowSums[]): Omit<ComparisonResult, 'protocol'> {
  const t = sumOf(windows);
  return {
    tokens: t.tokens,
    reference: { perplexity: Math.exp(t.nllReference / t.tokens), nll: t.nllReference / t.tokens },
    candidate: { perplexity: Math.exp(t.nllCandidate / t.tokens), nll: t.nllCandidate / t.tokens },
    klDivergence: t.kl / t.tokens,
    top1Agreement: t.agree / t.tokens,
    windows,
  };
}

export interface ComparisonIntervals {
  /** Confidence level, e.g. 0.95. */
  level: number;
  resamples: number;
  /** [low, high] percentile intervals of the candidate's perplexity, the KL and the top-1 agreement. */
  perplexity: [number, number];
  klDivergence: [number, number];
  top1Agreement: [number, number];
}

/**
 * Percentile-bootstrap confidence intervals over windows (windows drawn with replacement, each statistic the
 * token-weighted mean of the draw), seeded so a report is reproducible.
 */
export function bootstrapComparison(
  windows: readonly WindowSums[],
  options: { resamples?: number; level?: number; seed?: number } = {},
): ComparisonIntervals {
  const resamples = options.resamples ?? 1000;
  const level = options.level ?? 0.95;
  if (windows.length === 0) throw new RangeError('bootstrap: no windows');
  // a small xorshift: the eval package has no Rng dependency to spare, and only uniform indices are needed
  let state = (options.seed ?? 0) * 2654435761 + 0x9e3779b9;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  const ppl: number[] = [];
  const kl: number[] = [];
  const top1: number[] = [];
  for (let s = 0; s < resamples; s++) {
    let tokens = 0;
    let nll = 0;
    let k = 0;
    let a = 0;
    for (let i = 0; i < windows.length; i++) {
      const w = windows[Math.floor(next() * windows.length)];
      tokens += w.tokens;
      nll += w.nllCandidate;
      k += w.kl;
      a += w.agree;
    }
    ppl.push(Math.exp(nll / tokens));
    kl.push(k / tokens);
    top1.push(a / tokens);
  }
  const interval = (xs: number[]): [number, number] => {
    xs.sort((x, y) => x - y);
    const lo = Math.floor(((1 - level) / 2) * (xs.length - 1));
    const hi = Math.ceil((1 - (1 - level) / 2) * (xs.length - 1));
    return [xs[lo], xs[hi]];
  };
  return {
    level,
    resamples,
    perplexity: interval(ppl),
    klDivergence: interval(kl),
    top1Agreement: interval(top1),
  };
}
