import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tensor } from '@blastkit/core';
import { openSafetensors, type SafetensorsFile, ShardedSafetensors } from '@blastkit/safetensors';
import { type LlamaConfig, llamaConfigFromHf } from '../llama/config.js';
import { expectFiniteWeights, ModelFormatError, type TensorSource } from '../tensor-source.js';

/**
 * A safetensors file, or a sharded set of them, as a TensorSource (tensors converted to float32 as they are
 * read, checked finite).
 */
export class SafetensorsSource implements TensorSource {
  constructor(
    private readonly file: SafetensorsFile | ShardedSafetensors,
    private readonly path: string,
  ) {}

  /** A `.safetensors` file, or a shard index (`model.safetensors.index.json`). */
  static async open(path: string): Promise<SafetensorsSource> {
    if (path.endsWith('.json')) return new SafetensorsSource(await ShardedSafetensors.open(path), path);
    return new SafetensorsSource(await openSafetensors(path), path);
  }

  /** The weights of a Hugging Face model folder: the shard index when there is one, else model.safetensors. */
  static openFolder(dir: string): Promise<SafetensorsSource> {
    const index = join(dir, 'model.safetensors.index.json');
    return SafetensorsSource.open(existsSync(index) ? index : join(dir, 'model.safetensors'));
  }

  names(): string[] {
    return this.file.names();
  }
  shapeOf(name: string): readonly number[] {
    return this.file.info(name).shape;
  }
  async readTensor(name: string): Promise<Tensor> {
    const t = await this.file.readTensor(name);
    expectFiniteWeights(this.path, name, t);
    return t;
  }
  close(): Promise<void> {
    return this.file.close();
  }
}

/** Reads a Hugging Face model folder's config.json, with errors that name the file. */
export async function readHfConfig(dir: string): Promise<Record<string, unknown>> {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ModelFormatError(path, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    const json = JSON.parse(text);
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not an object');
    return json;
  } catch (err) {
    throw new ModelFormatError(path, `is not a JSON object (${(err as Error).message})`);
  }
}

/** A Hugging Face Llama folder (config.json + model.safetensors): its config and weights. */
export async function openHfLlama(dir: string): Promise<{ config: LlamaConfig; source: SafetensorsSource }> {
  const json = await readHfConfig(dir);
  if (json.model_type !== 'llama')
    throw new ModelFormatError(
      join(dir, 'config.json'),
      `model_type is '${String(json.model_type)}', expected 'llama'`,
    );
  const config = llamaConfigFromHf(json, join(dir, 'config.json'));
  return { config, source: await SafetensorsSource.openFolder(dir) };
}
