/** How a long token sequence is cut into model-sized windows; written into every result. */
export interface WindowProtocol {
  /** Tokens per forward pass (≤ the model's context). */
  window: number;
  /** How far each window starts after the previous one; tokens already scored are context only. */
  stride: number;
  /** Prepended to every window (e.g. BOS = 1 for Llama), or null. */
  prefixToken: number | null;
}

/** One window: the tokens to run and which of their next-token predictions count. */
export interface Window {
  ids: Int32Array;
  /** Positions t (into ids) whose prediction of ids[t + 1] is scored. */
  scoredFrom: number;
}

/**
 * Hugging Face's sliding-window perplexity protocol: windows of `window` tokens every `stride` tokens, each
 * token predicted once, with up to window − stride tokens of context before it (the first window scores all).
 */
export function slidingWindows(tokens: readonly number[], protocol: WindowProtocol): Window[] {
  const { window, stride, prefixToken } = protocol;
  const prefix = prefixToken === null ? 0 : 1;
  const span = window - prefix;
  if (!(Number.isInteger(window) && span >= 2)) throw new RangeError(`window ${window} is too small`);
  if (!(Number.isInteger(stride) && stride >= 1 && stride <= span))
    throw new RangeError(`stride ${stride} must be in [1, ${span}]`);
  if (tokens.length < 2) throw new RangeError('evaluation needs at least 2 tokens');
  const out: Window[] = [];
  // tokens[0..scoredUpTo] are done: without a prefix token 0 has nothing to be predicted from
  let scoredUpTo = prefix ? -1 : 0;
  for (let begin = 0; ; begin += stride) {
    const end = Math.min(begin + span, tokens.length);
    const chunk = tokens.slice(begin, end);
    const ids = Int32Array.from(prefix ? [prefixToken as number, ...chunk] : chunk);
    // position t predicts ids[t + 1]; the first new token is tokens[max(scoredUpTo + 1, begin)]
    const firstNew = Math.max(scoredUpTo + 1, begin + (prefix ? 0 : 1));
    out.push({ ids, scoredFrom: firstNew - begin + prefix - 1 });
    scoredUpTo = end - 1;
    if (end === tokens.length) break;
  }
  return out;
}
