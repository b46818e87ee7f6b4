import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { STRUCTURE_KINDS, type StructureKind, type Tensor } from '@blastkit/core';
import { openSafetensors, SafetensorsError, writeSafetensors } from '@blastkit/safetensors';
import type { CheckpointEntry, CheckpointStore } from '../run/factorize-many.js';

const FORMAT = 'blastkit-checkpoint';
const VERSION = '1';
/** Prefix of extra tensors (CheckpointEntry.extras) in the file; structure tensor names never contain ':'. */
const EXTRA = 'extra:';

/**
 * A checkpoint store on disk: one safetensors file per finished matrix in `dir`, named after the matrix
 * (URI-encoded, so any module path is a safe file name), with the structure kind and run figures in the
 * `__metadata__`. Writes are atomic (temp file + rename), so a run killed at any moment leaves only whole
 * entries behind, and a resumed run picks up exactly those.
 */
export class DirectoryCheckpointStore implements CheckpointStore {
  private constructor(readonly dir: string) {}

  /** Opens (creating if needed) the checkpoint directory. */
  static async open(dir: string): Promise<DirectoryCheckpointStore> {
    await mkdir(dir, { recursive: true });
    return new DirectoryCheckpointStore(dir);
  }

  private pathOf(name: string): string {
    return join(this.dir, `${encodeURIComponent(name)}.safetensors`);
  }

  async has(name: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(name))).isFile();
    } catch {
      return false;
    }
  }

  /** The names of every saved entry. */
  async names(): Promise<string[]> {
    const files = await readdir(this.dir);
    return files
      .filter((f) => f.endsWith('.safetensors'))
      .map((f) => decodeURIComponent(f.slice(0, -'.safetensors'.length)))
      .sort();
  }

  async load(name: string): Promise<CheckpointEntry> {
    const path = this.pathOf(name);
    const file = await openSafetensors(path);
    try {
      const meta = file.metadata;
      if (meta.format !== FORMAT)
        throw new SafetensorsError(path, `is not a blastkit checkpoint (format '${meta.format ?? ''}')`);
      const kind = meta.kind as StructureKind;
      if (!STRUCTURE_KINDS.includes(kind))
        throw new SafetensorsError(path, `names an unknown structure kind '${meta.kind}'`);
      const tensors: Record<string, Tensor> = {};
      const extras: Record<string, Tensor> = {};
      for (const tensorName of file.names()) {
        const t = await file.readTensor(tensorName);
        if (tensorName.startsWith(EXTRA)) extras[tensorName.slice(EXTRA.length)] = t;
        else tensors[tensorName] = t;
      }
      const info = {
        relativeError: Number(meta.relativeError),
        seconds: Number(meta.seconds),
        seed: Number(meta.seed),
      };
      return { kind, tensors, ...(Object.keys(extras).length > 0 ? { extras } : {}), info };
    } finally {
      await file.close();
    }
  }

  async save(name: string, entry: CheckpointEntry): Promise<void> {
    const extras = Object.fromEntries(
      Object.entries(entry.extras ?? {}).map(([k, t]) => [`${EXTRA}${k}`, t]),
    );
    await writeSafetensors(
      this.pathOf(name),
      { ...entry.tensors, ...extras },
      {
        format: FORMAT,
        version: VERSION,
        name,
        kind: entry.kind,
        relativeError: String(entry.info.relativeError),
        seconds: String(entry.info.seconds),
        seed: String(entry.info.seed),
      },
    );
  }
}
