import { PHI3_LINEAR_SUFFIXES, phi3ConfigFromHf } from '../phi3/config.js';
import { llamaFamilyEntry, windowTrait } from './llama-family.js';

/**
 * Phi-3 (transformers' Phi3ForCausalLM): Llama's block with q/k/v and gate/up fused, run by LlamaModel. The fused
 * `qkv_proj` and `gate_up_proj` are compressed as the single linears the checkpoint stores.
 */
export const phi3Architecture = llamaFamilyEntry({
  name: 'phi3',
  label: 'Phi-3',
  fixture: 'tiny-phi3',
  parseConfig: phi3ConfigFromHf,
  defaultTargets: PHI3_LINEAR_SUFFIXES,
  startsWithBos: true,
  traits: (c) => `fused qkv_proj and gate_up_proj, ${windowTrait(c)}`,
});
