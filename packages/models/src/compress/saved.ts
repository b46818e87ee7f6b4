import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  STRUCTURE_KINDS,
  type StructuredMatrix,
  type StructureKind,
  structuredFromNamedTensors,
  Tensor,
} from '@blastkit/core';
import { type TensorEntry, writeOutputFolder, writeSafetensors } from '@blastkit/safetensors';
import { SafetensorsSource } from '../hf/safetensors-source.js';
import { type LlamaConfig, llamaConfigFromHf, llamaConfigToHf } from '../llama/config.js';
import { ModelFormatError, type TensorSource } from '../tensor-source.js';

/** Version of the `compression_config` block; bumped when its meaning changes. */
export const COMPRESSION_FORMAT_VERSION = 1;

export interface CompressionConfig {
  format_version: number;
  method: string;
  /** Per replaced module: its structure and sizes, so the model reloads without guessing. */
  modules: Record<
    string,
    { kind: StructureKind; rank: number | null; blocks: number | null; bias?: boolean }
  >;
  [extra: string]: unknown;
}

/**
 * Writes a compressed model as a folder: `config.json` (the model's own config object, plus
 * `compression_config`) and `model.safetensors` holding every tensor of `source` that was kept and, for each
 * replaced module, its factors as `<module>.<B|C|D|U|V|L|R|blocks>` (and `<module>.bias` for ROM) instead of
 * `<module>.weight`. Kept tensors stream through one at a time; the folder (with `options.copy`, e.g. the
 * tokenizer, and blastkit's output marker) is written to a temporary sibling and renamed into place, and only
 * an absent, empty or blastkit-written folder is replaced (see `writeOutputFolder`). Works for every
 * architecture: modules are named as in the weight file.
 */
export async function saveCompressedFolder(
  dir: string,
  configJson: Record<string, unknown>,
  source: TensorSource,
  replacements: ReadonlyMap<string, StructuredMatrix>,
  info: { method: string; [extra: string]: unknown } | null,
  biases: ReadonlyMap<string, Tensor> = new Map(),
  options: SaveFolderOptions = {},
): Promise<void> {
  const names = new Set(source.names());
  for (const module of replacements.keys())
    if (!names.has(`${module}.weight`))
      throw new ModelFormatError(dir, `no weight '${module}.weight' to replace`);
  for (const module of biases.keys())
    if (!replacements.has(module))
      throw new ModelFormatError(dir, `an output bias for '${module}', which is not replaced`);
  const tensors: Record<string, TensorEntry> = {};
  const modules: CompressionConfig['modules'] = {};
  for (const name of names) {
    // a replaced module's own bias (Qwen2's q/k/v) is stored summed with the compression's below: one
    // `<module>.bias` marked as the structure's, which the loader hands back as its output bias
    if (name.endsWith('.bias') && biases.has(name.slice(0, -'.bias'.length))) continue;
    const module = name.endsWith('.weight') ? name.slice(0, -'.weight'.length) : undefined;
    const structured = module === undefined ? undefined : replacements.get(module);
    if (module === undefined || structured === undefined) {
      // read when the writer reaches it: the kept weights stream through one tensor at a time
      tensors[name] = { shape: source.shapeOf(name), load: () => source.readTensor(name) };
      continue;
    }
    for (const [part, t] of Object.entries(structured.toNamedTensors())) tensors[`${module}.${part}`] = t;
    modules[module] = describeStructure(structured);
    const bias = biases.get(module);
    if (bias !== undefined) {
      const own = names.has(`${module}.bias`) ? await source.readTensor(`${module}.bias`) : undefined;
      tensors[`${module}.bias`] = own === undefined ? bias : addBiases(own, bias, module);
      modules[module].bias = true;
    }
  }
  const compression: CompressionConfig | undefined =
    info === null ? undefined : { format_version: COMPRESSION_FORMAT_VERSION, ...info, modules };
  const { compression_config: _, ...plain } = configJson;
  await writeModelFolder(dir, options, async (temp) => {
    await writeSafetensors(join(temp, 'model.safetensors'), tensors, { format: 'pt' });
    await writeFile(
      join(temp, 'config.json'),
      `${JSON.stringify({ ...plain, ...(compression ? { compression_config: compression } : {}) }, null, 2)}\n`,
    );
  });
}

/** A layer's own bias plus a compression bias, element by element (same length, or a format error). */
function addBiases(own: Tensor, extra: Tensor, module: string): Tensor {
  if (own.size !== extra.size)
    throw new ModelFormatError(module, `its bias has ${own.size} entries, the compression's ${extra.size}`);
  const sum = new Float32Array(own.size);
  for (let i = 0; i < own.size; i++) sum[i] = own.data[i] + extra.data[i];
  return new Tensor(own.shape, sum);
}

/** How a model folder is written: what else goes in it, and what it must stay apart from. */
export interface SaveFolderOptions {
  /** Files copied into the folder under their own names before it appears (e.g. the tokenizer). */
  copy?: readonly string[];
  /** Recorded in the folder's `.blastkit-output` marker (default 'save'). */
  command?: string;
  /** Paths the run reads: the folder may not be, contain or lie inside any of them. */
  inputs?: readonly string[];
}

/** `writeOutputFolder` with a model folder's extra files copied in: the whole folder appears at once. */
export async function writeModelFolder(
  dir: string,
  options: SaveFolderOptions,
  write: (temp: string) => Promise<void>,
): Promise<void> {
  await writeOutputFolder(
    dir,
    async (temp) => {
      await write(temp);
      for (const file of options.copy ?? []) await copyFile(file, join(temp, basename(file)));
    },
    { command: options.command ?? 'save', inputs: [...(options.inputs ?? []), ...(options.copy ?? [])] },
  );
}

/** `saveCompressedFolder` for a Llama: the config written as transformers' LlamaConfig. */
export function saveCompressedLlama(
  dir: string,
  config: LlamaConfig,
  source: TensorSource,
  replacements: ReadonlyMap<string, StructuredMatrix>,
  info: { method: string; [extra: string]: unknown } | null,
  biases: ReadonlyMap<string, Tensor> = new Map(),
  options: SaveFolderOptions = {},
): Promise<void> {
  return saveCompressedFolder(dir, llamaConfigToHf(config), source, replacements, info, biases, options);
}

/**
 * Dense export: every structured layer multiplied back out (from its definition) and saved under the original
 * architecture's names, with no `compression_config` — for tools that know nothing of BLAST.
 */
export async function saveDenseLlama(
  dir: string,
  config: LlamaConfig,
  source: TensorSource,
  replacements: ReadonlyMap<string, StructuredMatrix>,
  options: SaveFolderOptions = {},
): Promise<void> {
  await saveCompressedLlama(
    dir,
    config,
    new DenseSource(source, replacements),
    new Map(),
    null,
    new Map(),
    options,
  );
}

/** A source where each replaced module reads as its dense `<module>.weight`, multiplied out when read. */
class DenseSource implements TensorSource {
  constructor(
    private readonly source: TensorSource,
    private readonly replacements: ReadonlyMap<string, StructuredMatrix>,
  ) {}
  names() {
    return [...this.source.names(), ...[...this.replacements.keys()].map((m) => `${m}.weight`)];
  }
  shapeOf(name: string) {
    return this.replacements.get(name.replace(/\.weight$/, ''))?.shape ?? this.source.shapeOf(name);
  }
  async readTensor(name: string) {
    return this.replacements.get(name.replace(/\.weight$/, ''))?.toDense() ?? this.source.readTensor(name);
  }
  close() {
    return this.source.close();
  }
}

/** A source without some of its tensors (a compressed folder's factor tensors, once rebuilt as replacements). */
class KeptSource implements TensorSource {
  constructor(
    private readonly source: TensorSource,
    private readonly hidden: ReadonlySet<string>,
  ) {}
  names() {
    return this.source.names().filter((n) => !this.hidden.has(n));
  }
  shapeOf(name: string) {
    return this.source.shapeOf(name);
  }
  readTensor(name: string) {
    return this.source.readTensor(name);
  }
  close() {
    return this.source.close();
  }
}

/** What `compression_config.modules` records of a structure: its kind, rank and block count. */
export function describeStructure(m: StructuredMatrix): CompressionConfig['modules'][string] {
  const t = m.toNamedTensors();
  switch (m.kind) {
    case 'blast':
      return { kind: m.kind, rank: t.B.shape[2], blocks: t.B.shape[0] };
    case 'low-rank':
      return { kind: m.kind, rank: t.U.shape[1], blocks: null };
    case 'monarch':
      return { kind: m.kind, rank: t.L.shape[2] / t.L.shape[0], blocks: t.L.shape[0] };
    case 'block-diagonal':
      return { kind: m.kind, rank: null, blocks: t.blocks.shape[0] };
    default:
      return { kind: m.kind, rank: null, blocks: null };
  }
}

/** A model folder opened with its compression undone into replacements: what every adapter's `load` takes. */
export interface OpenedFolder {
  /** config.json as written (with `compression_config`, if any). */
  json: Record<string, unknown>;
  /** The kept weights (the factor tensors of replaced modules are not listed). */
  source: TensorSource;
  replacements: Map<string, StructuredMatrix>;
  /** Output biases of replaced modules (ROM's mean compensation). */
  biases: Map<string, Tensor>;
  compression?: CompressionConfig;
}

/** Opens any model folder (config.json + model.safetensors or shards), compressed by blastkit or not. */
export async function openCompressedFolder(dir: string): Promise<OpenedFolder> {
  const configPath = join(dir, 'config.json');
  const text = await readFile(configPath, 'utf8').catch(() => {
    throw new ModelFormatError(configPath, 'cannot read (is this a model folder?)');
  });
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ModelFormatError(configPath, `is not JSON (${(err as Error).message})`);
  }
  if (!isObject(json)) throw new ModelFormatError(configPath, 'is not a JSON object');
  // checked before the weights are opened: a bad config leaves no file handle behind
  const compression = readCompressionConfig(json, configPath);
  const raw = await SafetensorsSource.openFolder(dir);
  const replacements = new Map<string, StructuredMatrix>();
  const biases = new Map<string, Tensor>();
  const hidden = new Set<string>();
  try {
    const names = raw.names();
    for (const [module, { kind, bias }] of Object.entries(compression?.modules ?? {})) {
      const parts: Record<string, Tensor> = {};
      for (const name of names) {
        const part = name.startsWith(`${module}.`) ? name.slice(module.length + 1) : undefined;
        // a module's own dense bias (GPT-2, ViT, DiT) is a kept weight, not part of the structure
        if (part === undefined || part.includes('.') || (part === 'bias' && !bias)) continue;
        parts[part] = await raw.readTensor(name);
        hidden.add(name);
      }
      if (bias) {
        if (parts.bias === undefined)
          throw new ModelFormatError(configPath, `module '${module}' lost its bias`);
        biases.set(module, parts.bias);
        delete parts.bias;
      }
      try {
        replacements.set(module, structuredFromNamedTensors(kind, parts));
      } catch (err) {
        throw new ModelFormatError(
          join(dir, 'model.safetensors'),
          `module '${module}': ${(err as Error).message}`,
        );
      }
    }
  } catch (err) {
    await raw.close();
    throw err;
  }
  return {
    json,
    source: new KeptSource(raw, hidden),
    replacements,
    biases,
    ...(compression ? { compression } : {}),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * `compression_config` of a config.json, checked: absent is an uncompressed model; anything else must be an
 * object of this format version whose `modules` map names to `{ kind, rank, blocks, bias? }`.
 */
function readCompressionConfig(
  json: Record<string, unknown>,
  configPath: string,
): CompressionConfig | undefined {
  const raw = json.compression_config;
  if (raw === undefined) return undefined;
  const fail = (problem: string) => new ModelFormatError(configPath, `compression_config: ${problem}`);
  if (!isObject(raw)) throw fail(`expected an object (got ${JSON.stringify(raw)})`);
  if (raw.format_version !== COMPRESSION_FORMAT_VERSION)
    throw new ModelFormatError(
      configPath,
      `compression_config format_version ${JSON.stringify(raw.format_version)} is not supported (${COMPRESSION_FORMAT_VERSION} is)`,
    );
  if (typeof raw.method !== 'string') throw fail('method must be a string');
  const modules = raw.modules ?? {};
  if (!isObject(modules)) throw fail('modules must be an object of module name → { kind, rank, blocks }');
  for (const [module, entry] of Object.entries(modules)) {
    if (module === '') throw fail('a module has an empty name');
    if (!isObject(entry)) throw fail(`module '${module}' must be an object with kind, rank and blocks`);
    const { kind, rank, blocks, bias } = entry;
    if (typeof kind !== 'string' || !STRUCTURE_KINDS.includes(kind as StructureKind))
      throw new ModelFormatError(
        configPath,
        `module '${module}' has unknown kind ${JSON.stringify(kind)} (one of ${STRUCTURE_KINDS.join(', ')})`,
      );
    // informational (the factors' shapes decide), but a wrong type here is a damaged file
    if (rank !== undefined && rank !== null && !(typeof rank === 'number' && rank > 0 && rank < 2 ** 31))
      throw fail(`module '${module}': rank must be a positive number or null (got ${JSON.stringify(rank)})`);
    if (blocks !== undefined && blocks !== null && !(Number.isSafeInteger(blocks) && (blocks as number) > 0))
      throw fail(
        `module '${module}': blocks must be a positive integer or null (got ${JSON.stringify(blocks)})`,
      );
    if (bias !== undefined && typeof bias !== 'boolean')
      throw fail(`module '${module}': bias must be true or false`);
  }
  return { ...raw, modules } as CompressionConfig;
}

/** What `openLlamaFolder` returns: enough to `LlamaModel.load(source, config, { replacements, biases })`. */
export interface OpenedLlama extends Omit<OpenedFolder, 'json'> {
  config: LlamaConfig;
}

/** Opens a Hugging Face Llama folder, compressed (with `compression_config`) or not. */
export async function openLlamaFolder(dir: string): Promise<OpenedLlama> {
  const { json, ...opened } = await openCompressedFolder(dir);
  try {
    return { config: llamaConfigFromHf(json, join(dir, 'config.json')), ...opened };
  } catch (err) {
    await opened.source.close();
    throw err;
  }
}
