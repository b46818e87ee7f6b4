import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { fetchAsset, isAssetName } from '@blastkit/assets';
import type { StructuredMatrix, Tensor } from '@blastkit/core';
import {
  type CompressionConfig,
  type DitConfig,
  ditConfigFromJson,
  type Gpt2Config,
  gpt2ConfigFromHf,
  HfTokenizer,
  Llama2cCheckpoint,
  Llama2cTokenizer,
  type LlamaConfig,
  llamaConfigFromHf,
  llamaConfigToHf,
  ModelFormatError,
  openCompressedFolder,
  readHfConfig,
  SafetensorsSource,
  type TensorSource,
  type TextTokenizer,
  type VitConfig,
  vitConfigFromHf,
} from '@blastkit/models';
import { SafetensorsError } from '@blastkit/safetensors';
import { UsageError } from '../errors.js';

/** The architectures the model commands run. */
export const ARCHITECTURES = ['llama', 'gpt2', 'vit', 'dit'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

/** What every opened model has, whatever its architecture. */
interface OpenedCommon {
  /** What it is, for messages: "stories15M (llama2.c v0)", "dir (gpt2, Hugging Face folder)". */
  description: string;
  format: 'llama2c' | 'hf-folder';
  /**
   * The kept weights under the architecture's names (a GPT-2 file without the `transformer.` prefix is seen
   * with it), stored as in the file (GPT-2 Conv1D [in, out], conv kernels 4-D).
   */
  source: TensorSource;
  replacements: Map<string, StructuredMatrix>;
  /** Output biases of replaced modules (ROM), kept apart: only a Llama folder stores them this way. */
  biases: Map<string, Tensor>;
  compression?: CompressionConfig;
  /** config.json to write when the model is saved again (a Llama from llama2.c gets transformers' names). */
  configJson: Record<string, unknown>;
  /** tokenizer.bin (llama2.c) or tokenizer.json (Hugging Face) found next to the model, or given. */
  tokenizerPath?: string;
}

/** A model named on the command line, opened (weights not read yet), tagged with its architecture. */
export type OpenedModel = OpenedCommon &
  (
    | { architecture: 'llama'; config: LlamaConfig }
    | { architecture: 'gpt2'; config: Gpt2Config }
    | { architecture: 'vit'; config: VitConfig }
    | { architecture: 'dit'; config: DitConfig }
  );

/** An opened Llama: what the Llama-only code paths (`export --reference`, llama2.c input) take. */
export type ModelArgument = OpenedCommon & { architecture: 'llama'; config: LlamaConfig };

/**
 * Opens `<model>`: an asset name (`stories15M`, fetched on first use), a llama2.c `.bin`, a model folder (a
 * Hugging Face Llama, GPT-2 or ViT folder, blastkit's DiT folder — compressed by blastkit or not), or a
 * `.safetensors` file with its config.json beside it. A tokenizer beside the weights is picked up.
 */
export async function openModel(spec: string, options: { tokenizer?: string } = {}): Promise<OpenedModel> {
  if (isAssetName(spec)) {
    if (spec !== 'stories15M') throw new UsageError(`'${spec}' is a data asset, not a model`);
    const files = await fetchAsset(spec, { onProgress: (m) => process.stderr.write(`${m}\n`) });
    return llama2c(files['stories15M.bin'], 'stories15M', options.tokenizer ?? files['tokenizer.bin']);
  }
  if (!existsSync(spec))
    throw new UsageError(`model '${spec}': no such file or folder, and not an asset name (try 'stories15M')`);
  try {
    if (statSync(spec).isDirectory()) return await openFolder(spec, options);
    if (extname(spec) === '.bin')
      return await llama2c(spec, spec, options.tokenizer ?? beside(spec, 'tokenizer.bin'));
    if (extname(spec) === '.safetensors') {
      if (!existsSync(join(dirname(spec), 'config.json')))
        throw new UsageError(
          `model '${spec}': a .safetensors file holds no architecture; put its config.json beside it`,
        );
      // the folder form reads compression and shards; another file name is opened as it is
      if (basename(spec) === 'model.safetensors') return await openFolder(dirname(spec), options);
      return await openFolder(dirname(spec), options, spec);
    }
  } catch (err) {
    if (err instanceof ModelFormatError || err instanceof SafetensorsError) throw new UsageError(err.message);
    throw err;
  }
  throw new UsageError(
    `model '${spec}': expected a model folder, a .safetensors file, a llama2.c .bin, or an asset name`,
  );
}

/** `openModel` for the Llama-only paths: any other architecture is a usage error naming it. */
export async function openModelArgument(
  spec: string,
  options: { tokenizer?: string } = {},
): Promise<ModelArgument> {
  const opened = await openModel(spec, options);
  if (opened.architecture !== 'llama') {
    await opened.source.close();
    throw new UsageError(`${opened.description} is a ${opened.architecture} model; this needs a Llama`);
  }
  return opened;
}

async function llama2c(path: string, name: string, tokenizerPath: string | undefined): Promise<OpenedModel> {
  const ck = await Llama2cCheckpoint.open(path);
  return {
    architecture: 'llama',
    description: `${name} (llama2.c v${ck.version})`,
    format: 'llama2c',
    config: ck.config,
    configJson: llamaConfigToHf(ck.config),
    source: ck,
    replacements: new Map(),
    biases: new Map(),
    ...(tokenizerPath ? { tokenizerPath } : {}),
  };
}

/** Which architecture a config.json describes: its model_type, or the DiT constructor's keys. */
export function architectureOf(json: Record<string, unknown>, file: string): Architecture {
  const type = json.model_type;
  if (type === 'llama' || type === 'blast_llama') return 'llama';
  if (type === 'gpt2' || type === 'vit' || type === 'dit') return type;
  // blastkit's DiT config may leave model_type out (the DiT repo has no config file at all)
  if (type === undefined && ('depth' in json || 'model' in json) && 'input_size' in json) return 'dit';
  throw new ModelFormatError(
    file,
    `model_type ${JSON.stringify(type)} is not one blastkit runs (llama, gpt2, vit, dit)`,
  );
}

async function openFolder(dir: string, options: { tokenizer?: string }, file?: string): Promise<OpenedModel> {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath))
    throw new UsageError(`model '${dir}': a model folder needs config.json and model.safetensors`);
  const architecture = architectureOf(await readHfConfig(dir), configPath);
  if (architecture === 'llama' && file !== undefined)
    throw new UsageError(`model '${file}': open a Llama by its folder (model.safetensors or shards)`);
  let opened: Awaited<ReturnType<typeof openCompressedFolder>>;
  if (file === undefined) opened = await openCompressedFolder(dir);
  else {
    const json = await readHfConfig(dir);
    if (json.compression_config !== undefined)
      throw new UsageError(`model '${file}': a compressed model is read by its folder`);
    opened = { json, source: await SafetensorsSource.open(file), replacements: new Map(), biases: new Map() };
  }
  const { json, compression, replacements, biases } = opened;
  const tokenizerPath =
    options.tokenizer ?? beside(join(dir, 'x'), 'tokenizer.bin') ?? beside(join(dir, 'x'), 'tokenizer.json');
  const stored = opened.source.names().length + replacements.size;
  const common = {
    description: `${file ?? dir} (${architecture} folder${compression ? `, compressed: ${compression.method}` : ''})`,
    format: 'hf-folder' as const,
    replacements,
    biases,
    ...(compression ? { compression } : {}),
    ...(tokenizerPath ? { tokenizerPath } : {}),
  };
  // Every layer stores several tensors: a layer count past the tensors stored is a damaged config.json, and
  // refused before anything sizes a table per layer (2^31 layers would hang and take gigabytes).
  const plausible = <T>(config: T, layers: number, key: string): T => {
    if (layers > stored)
      throw new ModelFormatError(
        configPath,
        `'${key}' is ${layers}, but the weights hold only ${stored} tensors (at least one per layer)`,
      );
    return config;
  };
  try {
    switch (architecture) {
      case 'llama': {
        const config = llamaConfigFromHf(json, configPath);
        return {
          ...common,
          architecture,
          config: plausible(config, config.numLayers, 'num_hidden_layers'),
          configJson: json,
          source: opened.source,
        };
      }
      case 'gpt2': {
        const config = gpt2ConfigFromHf(json, configPath);
        return {
          ...common,
          architecture,
          config: plausible(config, config.nLayer, 'n_layer'),
          configJson: json,
          source: withGpt2Prefix(opened.source),
        };
      }
      case 'vit': {
        const config = vitConfigFromHf(json, configPath);
        return {
          ...common,
          architecture,
          config: plausible(config, config.numLayers, 'num_hidden_layers'),
          configJson: json,
          source: opened.source,
        };
      }
      case 'dit': {
        const config = ditConfigFromJson(json, configPath);
        return {
          ...common,
          architecture,
          config: plausible(config, config.depth, 'depth'),
          configJson: json,
          source: opened.source,
        };
      }
    }
  } catch (err) {
    await opened.source.close();
    throw err;
  }
}

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

function beside(file: string, name: string): string | undefined {
  const path = join(dirname(file), name);
  return existsSync(path) ? path : undefined;
}

/** A tokenizer file: Hugging Face's tokenizer.json, or llama2.c's tokenizer.bin. */
export function loadTokenizer(path: string): Promise<TextTokenizer> {
  return path.endsWith('.json') ? HfTokenizer.load(path) : Llama2cTokenizer.load(path);
}
