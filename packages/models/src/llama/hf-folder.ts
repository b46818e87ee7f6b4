import { join } from 'node:path';
import { readHfConfig, SafetensorsSource } from '../hf/safetensors-source.js';
import { ModelFormatError } from '../tensor-source.js';
import type { LlamaConfig, LlamaFamilyType } from './config.js';

/**
 * A Hugging Face folder (config.json + model.safetensors or shards) of one Llama-family `model_type`: its config,
 * read by that family's reader, and its weights, for LlamaModel.load.
 */
export async function openHfLlamaFamily(
  dir: string,
  modelType: LlamaFamilyType,
  parse: (json: Record<string, unknown>, file: string) => LlamaConfig,
): Promise<{ config: LlamaConfig; source: SafetensorsSource }> {
  const file = join(dir, 'config.json');
  const json = await readHfConfig(dir);
  if (json.model_type !== modelType)
    throw new ModelFormatError(file, `model_type is '${String(json.model_type)}', expected '${modelType}'`);
  const config = parse(json, file);
  return { config, source: await SafetensorsSource.openFolder(dir) };
}
