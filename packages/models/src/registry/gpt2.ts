import { GPT2_LINEAR_MODULES, type Gpt2Config, gpt2ConfigFromHf, gpt2WeightShapes } from '../gpt2/config.js';
import { Gpt2Model } from '../gpt2/model.js';
import type { TensorSource } from '../tensor-source.js';
import type { ArchitectureEntry } from './architecture.js';
import { observeDecoder } from './decoder.js';
import { layered } from './llama.js';
import { saveDenseFolder } from './model-ops.js';

/** GPT-2 (transformers' GPT2LMHeadModel): Conv1D linears stored [in, out], biases of their own. */
export const gpt2Architecture: ArchitectureEntry<Gpt2Config, Gpt2Model> = {
  name: 'gpt2',
  label: 'GPT-2',
  modelTypes: ['gpt2'],
  task: 'causal-lm',
  fixture: 'tiny-gpt2',
  parseConfig: gpt2ConfigFromHf,
  layers: (c) => ({ count: c.nLayer, key: 'n_layer' }),
  wrapSource: withGpt2Prefix,
  opensSingleFile: true,
  linearCandidates: (c) => layered(c.nLayer, GPT2_LINEAR_MODULES, 'transformer.h'),
  defaultTargets: GPT2_LINEAR_MODULES,
  storedTransposed: (module) => /^transformer\.h\.\d+\./.test(module),
  fileShapes: gpt2WeightShapes,
  biasesApart: false,
  load: (source, config, options) => Gpt2Model.load(source, config, options),
  observe: (model, feed, observe) => observeDecoder('gpt2', model, feed, observe),
  exportDense: saveDenseFolder,
  describe: (c) =>
    `gpt2: n_embd ${c.nEmbd}, n_inner ${c.nInner}, ${c.nLayer} layers, ${c.nHead} heads, vocab ${c.vocabSize}, context ${c.nPositions}, ${c.tieWordEmbeddings ? 'tied' : 'untied'} head`,
  decoder: {
    // GPT-2 continues raw text (no BOS, as transformers does); windows start with its BOS where named
    promptBos: false,
    prefixToken: (c) => c.bosTokenId ?? null,
    context: (c) => c.nPositions,
    vocabSize: (c) => c.vocabSize,
  },
};

/**
 * A GPT-2 source under GPT2LMHeadModel's names: the hub's GPT2Model files name their tensors without the
 * `transformer.` prefix, and compression names modules with it.
 */
function withGpt2Prefix(source: TensorSource): TensorSource {
  const names = source.names();
  if (names.includes('transformer.wte.weight') || !names.includes('wte.weight')) return source;
  const stored = (name: string) => name.replace(/^transformer\./, '');
  return {
    names: () => names.map((n) => `transformer.${n}`),
    shapeOf: (name) => source.shapeOf(stored(name)),
    readTensor: (name) => source.readTensor(stored(name)),
    close: () => source.close(),
  };
}
