import { existsSync, statSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fetchAsset, isAssetName } from '@blastkit/assets';
import type { StructuredMatrix, Tensor } from '@blastkit/core';
import {
  type CompressionConfig,
  HfTokenizer,
  Llama2cCheckpoint,
  Llama2cTokenizer,
  type LlamaConfig,
  openLlamaFolder,
  type TensorSource,
  type TextTokenizer,
} from '@blastkit/models';
import { UsageError } from '../errors.js';

/** A model named on the command line, opened but not yet loaded onto a backend. */
export interface ModelArgument {
  /** What it is, for messages: "stories15M (llama2.c v0)". */
  description: string;
  format: 'llama2c' | 'hf-folder';
  config: LlamaConfig;
  source: TensorSource;
  replacements: Map<string, StructuredMatrix>;
  /** Output biases of replaced modules (ROM). */
  biases: Map<string, Tensor>;
  compression?: CompressionConfig;
  /** tokenizer.bin (llama2.c) or tokenizer.json (Hugging Face) found next to the model, or given. */
  tokenizerPath?: string;
}

/**
 * Opens `<model>`: the name of a fetched asset (`stories15M`, fetched on first use), a llama2.c `.bin`, or a
 * Hugging Face Llama folder (compressed by blastkit or not). A tokenizer.bin beside the weights is picked up.
 */
export async function openModelArgument(
  spec: string,
  options: { tokenizer?: string } = {},
): Promise<ModelArgument> {
  if (isAssetName(spec)) {
    if (spec !== 'stories15M') throw new UsageError(`'${spec}' is a data asset, not a model`);
    const files = await fetchAsset(spec, { onProgress: (m) => process.stderr.write(`${m}\n`) });
    const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
    return {
      description: `stories15M (llama2.c v${ck.version})`,
      format: 'llama2c',
      config: ck.config,
      source: ck,
      replacements: new Map(),
      biases: new Map(),
      tokenizerPath: options.tokenizer ?? files['tokenizer.bin'],
    };
  }
  if (!existsSync(spec))
    throw new UsageError(`model '${spec}': no such file or folder, and not an asset name (try 'stories15M')`);
  if (statSync(spec).isDirectory()) {
    if (!existsSync(join(spec, 'config.json')))
      throw new UsageError(`model '${spec}': a model folder needs config.json and model.safetensors`);
    const opened = await openLlamaFolder(spec);
    return {
      description: `${spec} (Hugging Face folder${opened.compression ? `, compressed: ${opened.compression.method}` : ''})`,
      format: 'hf-folder',
      ...opened,
      tokenizerPath:
        options.tokenizer ??
        beside(join(spec, 'x'), 'tokenizer.bin') ??
        beside(join(spec, 'x'), 'tokenizer.json'),
    };
  }
  if (extname(spec) === '.bin') {
    const ck = await Llama2cCheckpoint.open(spec);
    return {
      description: `${spec} (llama2.c v${ck.version})`,
      format: 'llama2c',
      config: ck.config,
      source: ck,
      replacements: new Map(),
      biases: new Map(),
      tokenizerPath: options.tokenizer ?? beside(spec, 'tokenizer.bin'),
    };
  }
  throw new UsageError(`model '${spec}': expected a llama2.c .bin, a model folder, or an asset name`);
}

function beside(file: string, name: string): string | undefined {
  const path = join(dirname(file), name);
  return existsSync(path) ? path : undefined;
}

/** A tokenizer file: Hugging Face's tokenizer.json, or llama2.c's tokenizer.bin. */
export function loadTokenizer(path: string): Promise<TextTokenizer> {
  return path.endsWith('.json') ? HfTokenizer.load(path) : Llama2cTokenizer.load(path);
}
