import { saveReferenceBlastLlama } from '../compress/reference-format.js';
import { saveDenseLlama } from '../compress/saved.js';
import {
  LLAMA_LINEAR_SUFFIXES,
  type LlamaConfig,
  llamaConfigFromHf,
  llamaConfigToHf,
} from '../llama/config.js';
import { LlamaModel } from '../llama/model.js';
import { Llama2cCheckpoint } from '../llama2c/checkpoint.js';
import type { ArchitectureEntry, OpenedModel } from './architecture.js';
import { observeDecoder } from './decoder.js';

/**
 * Llama (transformers' LlamaForCausalLM; llama2.c checkpoints too). The entry the other Llama-family decoders
 * copy: change the names, the config reader and the adapter.
 */
export const llamaArchitecture: ArchitectureEntry<LlamaConfig, LlamaModel> = {
  name: 'llama',
  label: 'Llama',
  modelTypes: ['llama', 'blast_llama'],
  task: 'causal-lm',
  fixture: 'tiny-llama',
  parseConfig: llamaConfigFromHf,
  layers: (c) => ({ count: c.numLayers, key: 'num_hidden_layers' }),
  // the loader reads shards and the index beside the weights
  opensSingleFile: false,
  checkpoints: [
    {
      extension: '.bin',
      label: 'a llama2.c .bin',
      open: async (path) => {
        const ck = await Llama2cCheckpoint.open(path);
        return {
          config: ck.config,
          source: ck,
          configJson: llamaConfigToHf(ck.config),
          format: 'llama2c',
          detail: `llama2.c v${ck.version}`,
        };
      },
    },
  ],
  linearCandidates: (c) => layered(c.numLayers, LLAMA_LINEAR_SUFFIXES),
  defaultTargets: LLAMA_LINEAR_SUFFIXES,
  biasesApart: true,
  // written as transformers' LlamaConfig (a llama2.c input gets its names)
  configJsonOf: (m) => llamaConfigToHf(m.config),
  load: (source, config, options) => LlamaModel.load(source, config, options),
  observe: (model, feed, observe) => observeDecoder('llama', model, feed, observe),
  exportDense: (out, m, folder) => saveDenseLlama(out, m.config, m.source, m.replacements, folder),
  exportReference: (out, m, options) =>
    saveReferenceBlastLlama(out, m.config, m.source, m.replacements, {
      ...options,
      dtype: options.dtype ?? 'F16',
    }),
  sequentialCalibration: true,
  describe: (c) =>
    `llama: hidden ${c.hiddenSize}, intermediate ${c.intermediateSize}, ${c.numLayers} layers, ${c.numHeads} heads (${c.numKvHeads} kv), vocab ${c.vocabSize}, context ${c.maxPositionEmbeddings}, ${c.tieWordEmbeddings ? 'tied' : 'untied'} head`,
  decoder: {
    promptBos: true,
    prefixToken: (c) => c.bosTokenId ?? 1,
    context: (c) => c.maxPositionEmbeddings,
    vocabSize: (c) => c.vocabSize,
    compareOnText: true,
  },
};

/** Whether an opened model is a Llama: for the commands that run LlamaModel itself (retrain). */
export function isLlama(m: OpenedModel): m is OpenedModel<LlamaConfig> {
  return m.entry === (llamaArchitecture as unknown as ArchitectureEntry);
}

/** `model.layers.{l}.{suffix}` for every layer and suffix, in network order. */
export function layered(layers: number, suffixes: readonly string[], prefix = 'model.layers'): string[] {
  const names: string[] = [];
  for (let l = 0; l < layers; l++) for (const s of suffixes) names.push(`${prefix}.${l}.${s}`);
  return names;
}
