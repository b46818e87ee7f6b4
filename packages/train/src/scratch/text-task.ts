import { InvalidArgumentError, Rng } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import type { ScratchGpt } from './gpt.js';
import { fingerprint } from './mnist-task.js';
import { crossEntropy } from './nn.js';
import {
  type ScratchRunOptions,
  type ScratchTrainOptions,
  type ScratchTrainResult,
  trainScratchSteps,
} from './trainer.js';

/**
 * A token stream cut into a training part and a held-out tail: contiguous, so no validation sentence also
 * appears (shifted) in training windows.
 */
export function splitTokens(
  ids: Int32Array,
  validationFraction = 0.1,
): { train: Int32Array; validation: Int32Array } {
  if (!(validationFraction > 0 && validationFraction < 1))
    throw new InvalidArgumentError(
      `splitTokens: validationFraction must be in (0, 1), got ${validationFraction}`,
    );
  const cut = Math.floor(ids.length * (1 - validationFraction));
  return { train: ids.subarray(0, cut), validation: ids.subarray(cut) };
}

/** Inputs and next-token targets of `count` windows of `length` tokens starting at `starts`. */
function windows(tokens: Int32Array, starts: ArrayLike<number>, length: number) {
  const inputs = new Int32Array(starts.length * length);
  const targets = new Int32Array(starts.length * length);
  for (let b = 0; b < starts.length; b++) {
    inputs.set(tokens.subarray(starts[b], starts[b] + length), b * length);
    targets.set(tokens.subarray(starts[b] + 1, starts[b] + length + 1), b * length);
  }
  return { inputs, targets };
}

/**
 * Trains a GPT on a token stream: each step takes `batchSize` windows of the full context at uniformly random
 * offsets drawn from a generator seeded by (seed, step), so the batches do not depend on where a run resumed.
 */
export async function trainGpt(
  model: ScratchGpt,
  tokens: Int32Array,
  options: ScratchTrainOptions,
  run: ScratchRunOptions = {},
): Promise<ScratchTrainResult> {
  const length = model.config.context;
  if (tokens.length < length + 2)
    throw new InvalidArgumentError(
      `trainGpt: ${tokens.length} tokens, fewer than one window of ${length + 1}`,
    );
  const lossAt = (step: number) => {
    const rng = new Rng(options.seed * 100_003 + step);
    const starts = Array.from({ length: options.batchSize }, () => rng.int(tokens.length - length));
    const { inputs, targets } = windows(tokens, starts, length);
    return crossEntropy(model.logits(inputs, options.batchSize, length), targets);
  };
  return trainScratchSteps(model, lossAt, options, run, `tokens:${tokens.length}:${fingerprint(tokens)}`);
}

/** Held-out language-modelling quality, per token (per byte with the byte tokenizer). */
export interface TextEvaluation {
  /** Mean next-token cross-entropy, nats. */
  loss: number;
  perplexity: number;
  bitsPerToken: number;
  /** Tokens predicted. */
  tokens: number;
}

/**
 * Evaluates on non-overlapping windows of context+1 tokens laid end to end from the start of `tokens` (every
 * token of a window after its first is predicted once, from the window's tokens before it — the usual
 * "chunked" protocol, which sees less context than a sliding window would). `maxWindows` caps the work.
 */
export function evaluateGpt(
  model: ScratchGpt,
  tokens: Int32Array,
  options: { maxWindows?: number; batchSize?: number } = {},
): TextEvaluation {
  const length = model.config.context;
  const available = Math.floor((tokens.length - 1) / length);
  const count = Math.min(available, options.maxWindows ?? available);
  if (count < 1)
    throw new InvalidArgumentError(`evaluateGpt: ${tokens.length} tokens hold no window of ${length + 1}`);
  const batchSize = options.batchSize ?? 16;
  let sum = 0;
  let predicted = 0;
  for (let first = 0; first < count; first += batchSize) {
    const starts = Array.from({ length: Math.min(batchSize, count - first) }, (_, i) => (first + i) * length);
    const { inputs, targets } = windows(tokens, starts, length);
    const loss = tf.tidy(() => crossEntropy(model.logits(inputs, starts.length, length), targets));
    sum += (loss.dataSync()[0] as number) * targets.length;
    predicted += targets.length;
    loss.dispose();
  }
  const loss = sum / predicted;
  return { loss, perplexity: Math.exp(loss), bitsPerToken: loss / Math.LN2, tokens: predicted };
}
