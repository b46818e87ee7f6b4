import { generate } from '@blastkit/models';
import type { LoadedDecoder } from './evaluate.js';
import {
  bootstrapComparison,
  type ComparisonIntervals,
  type ComparisonResult,
  compareModels,
} from './metrics.js';
import type { WindowProtocol } from './windows.js';

export interface DecoderComparisonOptions {
  /** The texts to score, each given the dense model (which samples in-domain text). */
  texts: readonly ((dense: LoadedDecoder) => Promise<{ source: string; ids: number[] }>)[];
  protocol: WindowProtocol;
  /** The prompt both models continue greedily, timed. */
  prompt: readonly number[];
  /** Greedy tokens of each timed continuation (fewer where the context ends first). */
  continuationTokens: number;
  /** Seed of the bootstrap intervals. */
  seed: number;
}

/** One model's greedy continuation and its decode rate (tokens after the first, per second). */
export interface TimedContinuation {
  tokens: number[];
  tokensPerSecond: number;
}

export interface DecoderComparison {
  /** Each text's figures, with 95% bootstrap intervals over its windows. */
  texts: (ComparisonResult & { text: string; intervals: ComparisonIntervals })[];
  continuations: { dense: TimedContinuation; compressed: TimedContinuation };
}

/**
 * A compressed decoder against its dense original: KL, top-1 agreement and both perplexities on each text (with
 * bootstrap intervals), then both models' greedy continuations of one prompt, timed — what compression buys at
 * generation time, on this backend.
 */
export async function compareDecoders(
  dense: LoadedDecoder,
  compressed: LoadedDecoder,
  options: DecoderComparisonOptions,
): Promise<DecoderComparison> {
  const texts: DecoderComparison['texts'] = [];
  for (const source of options.texts) {
    const text = await source(dense);
    const c = await compareModels(dense, compressed, text.ids, options.protocol);
    texts.push({
      text: text.source,
      ...c,
      intervals: bootstrapComparison(c.windows, { seed: options.seed }),
    });
  }
  const prompt = [...options.prompt];
  const maxTokens = Math.min(options.continuationTokens, dense.config.maxPositionEmbeddings - prompt.length);
  // A short warm-up run first (the native backend packs BLAST factors and fills its buffer pool on first use);
  // the rate counts the tokens after the first, as llama2.c's run.c does
  const greedy = async (m: LoadedDecoder): Promise<TimedContinuation> => {
    await generate(m, prompt, { maxTokens: 8 });
    let first = 0;
    const tokens = await generate(m, prompt, {
      maxTokens,
      onToken: () => {
        first ||= performance.now();
      },
    });
    const seconds = (performance.now() - first) / 1000;
    return { tokens, tokensPerSecond: tokens.length > 1 ? (tokens.length - 1) / seconds : 0 };
  };
  return { texts, continuations: { dense: await greedy(dense), compressed: await greedy(compressed) } };
}
