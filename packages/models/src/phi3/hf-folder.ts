import type { SafetensorsSource } from '../hf/safetensors-source.js';
import type { LlamaConfig } from '../llama/config.js';
import { openHfLlamaFamily } from '../llama/hf-folder.js';
import { phi3ConfigFromHf } from './config.js';

/** A Hugging Face Phi3ForCausalLM folder: its config and weights, run by LlamaModel.load. */
export function openHfPhi3(dir: string): Promise<{ config: LlamaConfig; source: SafetensorsSource }> {
  return openHfLlamaFamily(dir, 'phi3', phi3ConfigFromHf);
}
