import { type LlamaConfig, llamaLinearSuffixes } from '../llama/config.js';
import { LlamaModel } from '../llama/model.js';
import type { ArchitectureEntry } from './architecture.js';
import { observeDecoder } from './decoder.js';
import { layered } from './llama.js';
import { saveDenseFolder } from './model-ops.js';

/** What a Llama-family entry adds to Llama's: its names, its config reader and how its prompts start. */
export interface LlamaFamilyEntryOptions {
  name: string;
  label: string;
  fixture: string;
  parseConfig(json: Record<string, unknown>, file: string): LlamaConfig;
  /** The module-name suffixes compressed when no targets are given: every layer linear, as for Llama. */
  defaultTargets: readonly string[];
  /**
   * Its tokenizer starts text with BOS (Mistral's and Phi-3's SentencePiece do, as Llama's; Qwen2's BPE does
   * not): prompts, calibration sequences and evaluation windows then start with it too.
   */
  startsWithBos: boolean;
  /** What `describe` says after the sizes: the family's own options. */
  traits(config: LlamaConfig): string;
}

/**
 * The entry of a decoder that runs on LlamaModel (Qwen2, Mistral, Phi-3): Llama's entry with the family's names
 * and reader. The config.json read is written back as it was (no writer of ours renames it), the dense export
 * keeps the checkpoint's names, and the Llama-only exports (blast_llama reference format, ONNX) are left out.
 */
export function llamaFamilyEntry(o: LlamaFamilyEntryOptions): ArchitectureEntry<LlamaConfig, LlamaModel> {
  return {
    name: o.name,
    label: o.label,
    modelTypes: [o.name],
    task: 'causal-lm',
    fixture: o.fixture,
    parseConfig: o.parseConfig,
    layers: (c) => ({ count: c.numLayers, key: 'num_hidden_layers' }),
    // the loader reads shards and the index beside the weights
    opensSingleFile: false,
    linearCandidates: (c) => layered(c.numLayers, llamaLinearSuffixes(c)),
    defaultTargets: o.defaultTargets,
    // LlamaModel takes compression biases apart (adding them to a layer's own bias where it has one)
    biasesApart: true,
    load: (source, config, options) => LlamaModel.load(source, config, options),
    observe: (model, feed, observe) => observeDecoder(o.name, model, feed, observe),
    exportDense: saveDenseFolder,
    // each block recalibrated on the model with the earlier blocks compressed, through the same load as Llama's
    sequentialCalibration: true,
    describe: (c) =>
      `${o.name}: hidden ${c.hiddenSize}, intermediate ${c.intermediateSize}, ${c.numLayers} layers, ${c.numHeads} heads (${c.numKvHeads} kv), vocab ${c.vocabSize}, context ${c.maxPositionEmbeddings}, ${c.tieWordEmbeddings ? 'tied' : 'untied'} head, ${o.traits(c)}`,
    decoder: {
      promptBos: o.startsWithBos,
      prefixToken: (c) => (o.startsWithBos ? (c.bosTokenId ?? 1) : null),
      context: (c) => c.maxPositionEmbeddings,
      vocabSize: (c) => c.vocabSize,
      compareOnText: true,
    },
  };
}

/** 'sliding window 4096' (on which layers, when not all), or 'full attention'. */
export function windowTrait(c: LlamaConfig): string {
  if (c.slidingWindow === undefined) return 'full attention';
  const sliding = c.slidingLayers?.filter(Boolean).length ?? c.numLayers;
  return `sliding window ${c.slidingWindow}${sliding < c.numLayers ? ` on ${sliding} of ${c.numLayers} layers` : ''}`;
}
