import { LLAMA_LINEAR_SUFFIXES } from '../llama/config.js';
import { qwen2ConfigFromHf } from '../qwen2/config.js';
import { llamaFamilyEntry, windowTrait } from './llama-family.js';

/** Qwen2 (transformers' Qwen2ForCausalLM): Llama's block with q/k/v biases, run by LlamaModel. */
export const qwen2Architecture = llamaFamilyEntry({
  name: 'qwen2',
  label: 'Qwen2',
  fixture: 'tiny-qwen2',
  parseConfig: qwen2ConfigFromHf,
  defaultTargets: LLAMA_LINEAR_SUFFIXES,
  startsWithBos: false,
  traits: (c) => `q/k/v biases, ${windowTrait(c)}`,
});
