import { LLAMA_LINEAR_SUFFIXES } from '../llama/config.js';
import { mistralConfigFromHf } from '../mistral/config.js';
import { llamaFamilyEntry, windowTrait } from './llama-family.js';

/** Mistral (transformers' MistralForCausalLM): Llama's block with sliding-window attention, run by LlamaModel. */
export const mistralArchitecture = llamaFamilyEntry({
  name: 'mistral',
  label: 'Mistral',
  fixture: 'tiny-mistral',
  parseConfig: mistralConfigFromHf,
  defaultTargets: LLAMA_LINEAR_SUFFIXES,
  startsWithBos: true,
  traits: windowTrait,
});
