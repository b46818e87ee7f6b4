import type { SafetensorsSource } from '../hf/safetensors-source.js';
import type { LlamaConfig } from '../llama/config.js';
import { openHfLlamaFamily } from '../llama/hf-folder.js';
import { qwen2ConfigFromHf } from './config.js';

/** A Hugging Face Qwen2ForCausalLM folder: its config and weights, run by LlamaModel.load. */
export function openHfQwen2(dir: string): Promise<{ config: LlamaConfig; source: SafetensorsSource }> {
  return openHfLlamaFamily(dir, 'qwen2', qwen2ConfigFromHf);
}
