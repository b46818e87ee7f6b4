import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  STRUCTURE_KINDS,
  type StructuredMatrix,
  type StructureKind,
  structuredFromNamedTensors,
  type Tensor,
} from '@blastkit/core';
import { type TensorEntry, writeSafetensors } from '@blastkit/safetensors';
import { SafetensorsSource } from '../hf/safetensors-source.js';
import { type LlamaConfig, llamaConfigFromHf, llamaConfigToHf, llamaWeightShapes } from '../llama/config.js';
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
 * Writes a compressed Llama as a folder: `config.json` (Hugging Face's, plus `compression_config`) and
 * `model.safetensors` holding the dense weights that were kept and, for each replaced module, its factors as
 * `<module>.<B|C|D|U|V|L|R|blocks>`. The folder is written to a temporary sibling and renamed into place.
 */
export async function saveCompressedLlama(
  dir: string,
  config: LlamaConfig,
  source: TensorSource,
  replacements: ReadonlyMap<string, StructuredMatrix>,
  info: { method: string; [extra: string]: unknown } | null,
  biases: ReadonlyMap<string, Tensor> = new Map(),
): Promise<void> {
  const tensors: Record<string, TensorEntry> = {};
  const modules: CompressionConfig['modules'] = {};
  for (const [name, shape] of llamaWeightShapes(config)) {
    const module = name.endsWith('.weight') ? name.slice(0, -'.weight'.length) : name;
    const structured = replacements.get(module);
    if (structured === undefined) {
      // read when the writer reaches it: the kept weights stream through one tensor at a time
      tensors[name] = { shape, load: () => source.readTensor(name) };
      continue;
    }
    for (const [part, t] of Object.entries(structured.toNamedTensors())) tensors[`${module}.${part}`] = t;
    modules[module] = describe(structured);
    const bias = biases.get(module);
    if (bias !== undefined) {
      tensors[`${module}.bias`] = bias;
      modules[module].bias = true;
    }
  }
  const compression: CompressionConfig | undefined =
    info === null ? undefined : { format_version: COMPRESSION_FORMAT_VERSION, ...info, modules };
  const temp = `${dir}.partial-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  await mkdir(temp, { recursive: true });
  await writeSafetensors(join(temp, 'model.safetensors'), tensors, { format: 'pt' });
  await writeFile(
    join(temp, 'config.json'),
    `${JSON.stringify({ ...llamaConfigToHf(config), ...(compression ? { compression_config: compression } : {}) }, null, 2)}\n`,
  );
  await rm(dir, { recursive: true, force: true });
  await rename(temp, dir);
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
): Promise<void> {
  const dense = new DenseReplacements(replacements);
  await saveCompressedLlama(dir, config, new DenseSource(source, dense), new Map(), null);
}

/** The replacements' dense matrices under `<module>.weight`, computed when read. */
class DenseReplacements {
  constructor(readonly replacements: ReadonlyMap<string, StructuredMatrix>) {}
  get(name: string): Tensor | undefined {
    return this.replacements.get(name.replace(/\.weight$/, ''))?.toDense();
  }
}

class DenseSource implements TensorSource {
  constructor(
    private readonly source: TensorSource,
    private readonly dense: DenseReplacements,
  ) {}
  names() {
    return this.source.names();
  }
  shapeOf(name: string) {
    return this.source.shapeOf(name);
  }
  async readTensor(name: string) {
    return this.dense.get(name) ?? this.source.readTensor(name);
  }
  close() {
    return this.source.close();
  }
}

function describe(m: StructuredMatrix): CompressionConfig['modules'][string] {
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

/** What `openLlamaFolder` returns: enough to `LlamaModel.load(source, config, { replacements })`. */
export interface OpenedLlama {
  config: LlamaConfig;
  source: TensorSource;
  replacements: Map<string, StructuredMatrix>;
  /** Output biases of replaced modules (ROM's mean compensation). */
  biases: Map<string, Tensor>;
  compression?: CompressionConfig;
}

/** Opens a Hugging Face Llama folder, compressed (with `compression_config`) or not. */
export async function openLlamaFolder(dir: string): Promise<OpenedLlama> {
  const configPath = join(dir, 'config.json');
  const json = JSON.parse(
    await readFile(configPath, 'utf8').catch(() => {
      throw new ModelFormatError(configPath, 'cannot read (is this a model folder?)');
    }),
  );
  const config = llamaConfigFromHf(json, configPath);
  const source = await SafetensorsSource.openFolder(dir);
  const replacements = new Map<string, StructuredMatrix>();
  const biases = new Map<string, Tensor>();
  const compression = json.compression_config as CompressionConfig | undefined;
  if (compression !== undefined) {
    if (compression.format_version !== COMPRESSION_FORMAT_VERSION)
      throw new ModelFormatError(
        configPath,
        `compression_config format_version ${compression.format_version} is not supported (${COMPRESSION_FORMAT_VERSION} is)`,
      );
    const names = new Set(source.names());
    for (const [module, { kind, bias }] of Object.entries(compression.modules ?? {})) {
      if (!STRUCTURE_KINDS.includes(kind))
        throw new ModelFormatError(configPath, `module '${module}' has unknown kind '${kind}'`);
      const parts: Record<string, Tensor> = {};
      for (const name of names)
        if (name.startsWith(`${module}.`) && !name.slice(module.length + 1).includes('.'))
          parts[name.slice(module.length + 1)] = await source.readTensor(name);
      if (bias) {
        if (parts.bias === undefined)
          throw new ModelFormatError(configPath, `module '${module}' lost its bias`);
        biases.set(module, parts.bias);
      }
      delete parts.bias;
      try {
        replacements.set(module, structuredFromNamedTensors(kind, parts));
      } catch (err) {
        throw new ModelFormatError(
          join(dir, 'model.safetensors'),
          `module '${module}': ${(err as Error).message}`,
        );
      }
    }
  }
  return { config, source, replacements, biases, ...(compression ? { compression } : {}) };
}
