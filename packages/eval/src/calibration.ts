import { Rng } from '@blastkit/core';
import type { CalibrationFeed, OpenedModel } from '@blastkit/models';
import { seededImages } from './classification.js';
import { noisedLatentFeed, seededNoiseInputs } from './diffusion.js';

/** Seeded, data-free images and latents are run in batches of this many. */
const SEEDED_BATCH = 8;

/** `count` token ids uniform over the vocabulary from Rng(seed): the input when there is no tokenizer. */
export function seededTokens(vocabSize: number, count: number, seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => rng.int(vocabSize));
}

/**
 * How a decoder's calibration sequences are laid out: the prefix each starts with (BOS, where the
 * architecture's prompts start with it) and the tokens after it, so that a sequence fits min(128, context).
 */
export function calibrationLayout(m: OpenedModel): { prefix: number[]; length: number } {
  const decoder = m.entry.decoder;
  if (decoder === undefined) throw new RangeError(`a ${m.architecture} model reads no tokens`);
  const bos = decoder.prefixToken(m.config);
  const prefix = decoder.promptBos && bos !== null ? [bos] : [];
  return { prefix, length: Math.min(128, decoder.context(m.config)) - prefix.length };
}

/** Token ids cut into the decoder's calibration sequences (see `calibrationLayout`). */
export function calibrationSequences(m: OpenedModel, ids: readonly number[]): number[][] {
  const { prefix, length } = calibrationLayout(m);
  const sequences: number[][] = [];
  for (let i = 0; i < ids.length; i += length) sequences.push([...prefix, ...ids.slice(i, i + length)]);
  return sequences;
}

/**
 * Seeded calibration inputs for any task, and the sentence that says what they are: `count` token ids uniform
 * over the vocabulary (default 512), or N(0, 1) images, or noise-prediction latents (x₀, ε ~ N(0, 1), t and y
 * uniform; default 8) — a data-free calibration, labelled as such.
 */
export function seededCalibration(
  m: OpenedModel,
  count: number | undefined,
  seed: number,
): { feed: CalibrationFeed; source: string } {
  const decoder = m.entry.decoder;
  switch (m.entry.task) {
    case 'causal-lm': {
      const tokens = count ?? 512;
      const ids = seededTokens(decoder?.vocabSize(m.config) ?? 0, tokens, seed);
      return {
        feed: { kind: 'tokens', sequences: calibrationSequences(m, ids) },
        source: `random: ${tokens} token ids uniform over the vocabulary, Rng(${seed})`,
      };
    }
    case 'image-classification': {
      const n = count ?? 8;
      const config = m.config as Parameters<typeof seededImages>[0];
      return {
        feed: { kind: 'images', images: seededImages(config, n, seed), batchSize: SEEDED_BATCH },
        source: `random: ${n} images of N(0, 1) pixels, Rng(${seed})`,
      };
    }
    case 'diffusion': {
      const n = count ?? 8;
      const config = m.config as Parameters<typeof seededNoiseInputs>[0];
      return {
        feed: noisedLatentFeed(seededNoiseInputs(config, n, seed), SEEDED_BATCH),
        source: `random: ${n} noise-prediction latents (x₀, ε ~ N(0, 1), t, y uniform), Rng(${seed})`,
      };
    }
  }
}
