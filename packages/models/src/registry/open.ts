import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { openCompressedFolder } from '../compress/saved.js';
import { readHfConfig, SafetensorsSource } from '../hf/safetensors-source.js';
import { ModelFormatError } from '../tensor-source.js';
import { type ArchitectureEntry, ModelInputError, type OpenedModel } from './architecture.js';
import { ARCHITECTURES, architectureOf } from './architectures.js';

export interface OpenModelOptions {
  /** tokenizer.json or tokenizer.bin to use instead of one found beside the weights. */
  tokenizer?: string;
  /** What to call it in messages instead of the path (an asset's name). */
  name?: string;
  /** Other forms the caller accepts, for the message on a path that is none of these ('an asset name'). */
  otherForms?: readonly string[];
}

/**
 * Opens a model of any registered architecture (weights not read yet): a model folder (config.json and
 * model.safetensors or shards, compressed by blastkit or not), a `.safetensors` file with its config.json
 * beside it, or a checkpoint file an entry reads (a llama2.c `.bin`). A tokenizer beside the weights is picked
 * up. Throws ModelInputError for paths it cannot use, ModelFormatError for damaged files.
 */
export async function openModel(path: string, options: OpenModelOptions = {}): Promise<OpenedModel> {
  if (!existsSync(path)) throw new ModelInputError(`model '${path}': no such file or folder`);
  if (statSync(path).isDirectory()) return openFolder(path, options);
  const ext = extname(path);
  if (ext === '.safetensors') {
    if (!existsSync(join(dirname(path), 'config.json')))
      throw new ModelInputError(
        `model '${path}': a .safetensors file holds no architecture; put its config.json beside it`,
      );
    // the folder form reads compression and shards; another file name is opened as it is
    if (basename(path) === 'model.safetensors') return openFolder(dirname(path), options);
    return openFolder(dirname(path), options, path);
  }
  for (const entry of ARCHITECTURES) {
    const reader = entry.checkpoints?.find((c) => c.extension === ext);
    if (reader === undefined) continue;
    const ck = await reader.open(path);
    const tokenizerPath = options.tokenizer ?? beside(path, 'tokenizer.bin');
    return {
      architecture: entry.name,
      entry,
      config: ck.config,
      description: `${options.name ?? path} (${ck.detail})`,
      format: ck.format,
      source: ck.source,
      configJson: ck.configJson,
      replacements: new Map(),
      biases: new Map(),
      ...(tokenizerPath ? { tokenizerPath } : {}),
    };
  }
  const forms = [
    'a model folder',
    'a .safetensors file',
    ...ARCHITECTURES.flatMap((a) => (a.checkpoints ?? []).map((c) => c.label)),
    ...(options.otherForms ?? []),
  ];
  throw new ModelInputError(
    `model '${path}': expected ${forms.slice(0, -1).join(', ')}, or ${forms[forms.length - 1]}`,
  );
}

async function openFolder(dir: string, options: OpenModelOptions, file?: string): Promise<OpenedModel> {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath))
    throw new ModelInputError(`model '${dir}': a model folder needs config.json and model.safetensors`);
  const entry: ArchitectureEntry = architectureOf(await readHfConfig(dir), configPath);
  if (!entry.opensSingleFile && file !== undefined)
    throw new ModelInputError(
      `model '${file}': open a ${entry.label} by its folder (model.safetensors or shards)`,
    );
  let opened: Awaited<ReturnType<typeof openCompressedFolder>>;
  if (file === undefined) opened = await openCompressedFolder(dir);
  else {
    const json = await readHfConfig(dir);
    if (json.compression_config !== undefined)
      throw new ModelInputError(`model '${file}': a compressed model is read by its folder`);
    opened = { json, source: await SafetensorsSource.open(file), replacements: new Map(), biases: new Map() };
  }
  const { json, compression, replacements, biases } = opened;
  const tokenizerPath =
    options.tokenizer ?? beside(join(dir, 'x'), 'tokenizer.bin') ?? beside(join(dir, 'x'), 'tokenizer.json');
  const stored = opened.source.names().length + replacements.size;
  try {
    const config = entry.parseConfig(json, configPath);
    // Every layer stores several tensors: a layer count past the tensors stored is a damaged config.json, and
    // refused before anything sizes a table per layer (2^31 layers would hang and take gigabytes).
    const layers = entry.layers(config);
    if (layers.count > stored)
      throw new ModelFormatError(
        configPath,
        `'${layers.key}' is ${layers.count}, but the weights hold only ${stored} tensors (at least one per layer)`,
      );
    return {
      architecture: entry.name,
      entry,
      config,
      description: `${options.name ?? file ?? dir} (${entry.name} folder${compression ? `, compressed: ${compression.method}` : ''})`,
      format: 'hf-folder',
      source: entry.wrapSource ? entry.wrapSource(opened.source) : opened.source,
      replacements,
      biases,
      configJson: json,
      ...(compression ? { compression } : {}),
      ...(tokenizerPath ? { tokenizerPath } : {}),
    };
  } catch (err) {
    await opened.source.close();
    throw err;
  }
}

function beside(file: string, name: string): string | undefined {
  const path = join(dirname(file), name);
  return existsSync(path) ? path : undefined;
}
