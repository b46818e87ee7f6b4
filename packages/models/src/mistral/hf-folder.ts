import type { SafetensorsSource } from '../hf/safetensors-source.js';
import type { LlamaConfig } from '../llama/config.js';
import { openHfLlamaFamily } from '../llama/hf-folder.js';
import { mistralConfigFromHf } from './config.js';

/** A Hugging Face MistralForCausalLM folder: its config and weights, run by LlamaModel.load. */
export function openHfMistral(dir: string): Promise<{ config: LlamaConfig; source: SafetensorsSource }> {
  return openHfLlamaFamily(dir, 'mistral', mistralConfigFromHf);
}
