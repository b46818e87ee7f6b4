import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import type { Tensor } from '@blastkit/core';
import { SafetensorsError } from './errors.js';
import { type RawTensor, SafetensorsFile, type TensorInfo } from './reader.js';

/**
 * A model stored as several safetensors shards with a `model.safetensors.index.json` (Hugging Face's layout):
 * one reader over all of them, by tensor name. Every shard is opened (headers only) and checked against the
 * index: a tensor the index names must be in the shard it names, and no tensor may appear in two shards.
 */
export class ShardedSafetensors {
  private constructor(
    readonly indexPath: string,
    readonly metadata: Record<string, string>,
    private readonly shards: Map<string, SafetensorsFile>,
    private readonly where: Map<string, SafetensorsFile>,
  ) {}

  static async open(indexPath: string): Promise<ShardedSafetensors> {
    let index: { metadata?: Record<string, unknown>; weight_map?: Record<string, unknown> };
    try {
      index = JSON.parse(await readFile(indexPath, 'utf8'));
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new SafetensorsError(indexPath, `cannot read the shard index: ${why}`);
    }
    const map = index?.weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map))
      throw new SafetensorsError(indexPath, 'the shard index has no "weight_map" object');
    const shardNames = new Set<string>();
    for (const [name, shard] of Object.entries(map)) {
      if (typeof shard !== 'string' || isAbsolute(shard) || normalize(shard).startsWith('..'))
        throw new SafetensorsError(
          indexPath,
          `weight_map entry '${name}' must name a shard file in the same folder`,
        );
      shardNames.add(shard);
    }
    const shards = new Map<string, SafetensorsFile>();
    try {
      for (const shard of shardNames)
        shards.set(shard, await SafetensorsFile.open(join(dirname(indexPath), shard)));
      const where = new Map<string, SafetensorsFile>();
      for (const [shard, file] of shards)
        for (const name of file.names()) {
          if (where.has(name))
            throw new SafetensorsError(indexPath, `tensor '${name}' is in two shards (${shard} and another)`);
          where.set(name, file);
        }
      for (const [name, shard] of Object.entries(map as Record<string, string>)) {
        if (where.get(name) !== shards.get(shard))
          throw new SafetensorsError(
            indexPath,
            `the index puts '${name}' in ${shard}, which does not hold it`,
          );
      }
      const metadata: Record<string, string> = {};
      for (const [k, v] of Object.entries(index.metadata ?? {})) metadata[k] = String(v);
      return new ShardedSafetensors(indexPath, metadata, shards, where);
    } catch (err) {
      for (const file of shards.values()) await file.close();
      throw err;
    }
  }

  names(): string[] {
    return [...this.where.keys()];
  }

  info(name: string): TensorInfo {
    return this.file(name).info(name);
  }

  async readRaw(name: string): Promise<RawTensor> {
    return this.file(name).readRaw(name);
  }

  async readTensor(name: string): Promise<Tensor> {
    return this.file(name).readTensor(name);
  }

  /** The shard files, by the names the index uses. */
  shardNames(): string[] {
    return [...this.shards.keys()];
  }

  async close(): Promise<void> {
    for (const file of this.shards.values()) await file.close();
  }

  private file(name: string): SafetensorsFile {
    const f = this.where.get(name);
    if (f === undefined) throw new SafetensorsError(this.indexPath, `no tensor named '${name}' in any shard`);
    return f;
  }
}
