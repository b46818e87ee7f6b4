import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { STRUCTURE_KINDS, type StructureKind, type Tensor } from '@blastkit/core';
import {
  createTemporaryFolder,
  openSafetensors,
  removeStaleTemporaries,
  removeStaleTemporariesIn,
  SafetensorsError,
  temporaryPath,
  trackTemporary,
  untrackTemporary,
  writeFileAtomic,
  writeSafetensors,
} from '@blastkit/safetensors';
import type { CheckpointEntry, CheckpointStore } from '../run/factorize-many.js';

const FORMAT = 'blastkit-checkpoint';
const VERSION = '1';
/** Prefix of extra tensors (CheckpointEntry.extras) in the file; structure tensor names never contain ':'. */
const EXTRA = 'extra:';
/** The run's fingerprint inside the checkpoint folder. */
export const RUN_FILE = 'run.json';
/**
 * Version of the solvers' results, part of every fingerprint: bump it when any solver gives other factors for
 * the same inputs, so that checkpoints of the old solver are not mixed with the new one's.
 */
export const SOLVER_VERSION = '1';

/**
 * Everything that determines a run's results (input weights, method, ratio, blocks, steps, seed, calibration,
 * …), as a flat record of JSON values; a resumed run must present the same one.
 */
export type RunFingerprint = Record<string, unknown>;

/** Checkpoints that belong to another run (other inputs or settings), or whose run cannot be told. */
export class CheckpointMismatchError extends Error {
  constructor(
    readonly dir: string,
    message: string,
    /** The first setting that differs, when known. */
    readonly key?: string,
  ) {
    super(message);
    this.name = 'CheckpointMismatchError';
  }
}

/** The first difference between two fingerprints ("seed: checkpoints 1, this run 2"), or undefined. */
export function fingerprintDifference(saved: RunFingerprint, now: RunFingerprint): string | undefined {
  for (const key of new Set([...Object.keys(now), ...Object.keys(saved)])) {
    const a = JSON.stringify(saved[key] ?? null);
    const b = JSON.stringify(now[key] ?? null);
    if (a !== b) return `${key}: checkpoints ${short(a)}, this run ${short(b)}`;
  }
  return undefined;
}

function short(json: string): string {
  return json.length > 80 ? `${json.slice(0, 77)}…` : json;
}

function runId(fingerprint: RunFingerprint): string {
  return createHash('sha256').update(JSON.stringify(fingerprint)).digest('hex').slice(0, 32);
}

/**
 * A checkpoint store on disk: one safetensors file per finished matrix in `dir`, named after the matrix
 * (URI-encoded, so any module path is a safe file name), with the structure kind and run figures in the
 * `__metadata__`. Writes are atomic (temp file, fsync, rename), so a run killed at any moment leaves only whole
 * entries behind (and orphaned temporaries, removed when the store is next opened), and a resumed run picks up
 * exactly those — after checking, with a fingerprint, that they belong to this run.
 */
export class DirectoryCheckpointStore implements CheckpointStore {
  private constructor(
    readonly dir: string,
    /** Tag of the run's fingerprint, written into every entry and checked when one is loaded. */
    private readonly run: string | undefined,
  ) {}

  /**
   * Opens (creating if needed) the checkpoint directory. With a `fingerprint`, a new directory appears with
   * it in `run.json` (never without), and an existing one must hold the same: otherwise a
   * {@link CheckpointMismatchError} names the first difference. Orphaned temporaries of killed runs are removed.
   */
  static async open(
    dir: string,
    options: { fingerprint?: RunFingerprint } = {},
  ): Promise<DirectoryCheckpointStore> {
    await removeStaleTemporaries(dir);
    const given = options.fingerprint;
    if (given === undefined) {
      await mkdir(dir, { recursive: true });
      await removeStaleTemporariesIn(dir);
      return new DirectoryCheckpointStore(dir, undefined);
    }
    const fingerprint = { solver: SOLVER_VERSION, ...given };
    const text = `${JSON.stringify(fingerprint, null, 1)}\n`;
    const existing = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (existing === undefined) {
      // the folder appears with its fingerprint: a kill at any moment leaves it whole or absent
      const temp = temporaryPath(dir);
      trackTemporary(temp);
      try {
        await mkdir(dirname(temp), { recursive: true });
        createTemporaryFolder(temp);
        await writeFile(join(temp, RUN_FILE), text);
        await rename(temp, dir);
      } finally {
        untrackTemporary(temp);
      }
    } else {
      await removeStaleTemporariesIn(dir);
      if (!existing.includes(RUN_FILE)) {
        if (existing.some((f) => f.endsWith('.safetensors')))
          throw new CheckpointMismatchError(
            dir,
            `${dir} holds checkpoints without a run fingerprint (${RUN_FILE}; written by an older blastkit): they cannot be checked against this run — delete the folder to start over`,
          );
        await writeFileAtomic(
          join(dir, RUN_FILE),
          async (sink) => sink.write(new TextEncoder().encode(text)),
          (problem, cause) => new Error(`${join(dir, RUN_FILE)}: ${problem}`, { cause }),
        );
      } else {
        let saved: RunFingerprint;
        try {
          saved = JSON.parse(await readFile(join(dir, RUN_FILE), 'utf8'));
        } catch (err) {
          throw new CheckpointMismatchError(
            dir,
            `${join(dir, RUN_FILE)} is damaged (${(err as Error).message}): delete ${dir} to start over`,
          );
        }
        const difference = fingerprintDifference(saved, fingerprint);
        if (difference !== undefined)
          throw new CheckpointMismatchError(
            dir,
            `${dir} was written by another run (${difference}); resume with the same inputs and settings, or delete it to start over`,
            difference.slice(0, difference.indexOf(':')),
          );
      }
    }
    return new DirectoryCheckpointStore(dir, runId(fingerprint));
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
      if (this.run !== undefined && meta.run !== this.run)
        throw new CheckpointMismatchError(
          this.dir,
          `${path} belongs to another run than ${join(this.dir, RUN_FILE)} describes; delete ${this.dir} to start over`,
        );
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
        ...(this.run === undefined ? {} : { run: this.run }),
      },
    );
  }
}
