import { createHash } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tensor } from '@blastkit/core';
import type { CheckpointEntry, CheckpointStore } from '@blastkit/factorize';
import { openSafetensors, writeSafetensors } from '@blastkit/safetensors';

/** Subfolder of the shared store where the coordinator puts calibration inputs for the workers. */
export const CALIBRATION_FOLDER = 'queue-calibration';

/**
 * The content hash of a checkpoint entry: its structure kind, every tensor (name, shape, bytes), its extras,
 * relative error and seed. The time it took is left out: it differs between two runs of the same job, the
 * factors do not, so a job done twice hashes the same.
 */
export function entryDigest(entry: CheckpointEntry): string {
  const hash = createHash('sha256');
  hash.update(`kind\0${entry.kind}\0`);
  const add = (prefix: string, tensors: Record<string, Tensor>) => {
    for (const name of Object.keys(tensors).sort()) {
      const t = tensors[name];
      hash.update(`${prefix}${name}\0${t.shape.join(',')}\0`);
      hash.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
  };
  add('tensor\0', entry.tensors);
  add('extra\0', entry.extras ?? {});
  hash.update(`info\0${entry.info.relativeError}\0${entry.info.seed}`);
  return hash.digest('hex');
}

/**
 * The digest of `name`'s entry in the store, or undefined when it is absent or cannot be read (a damaged
 * file, another run's entry): either way the matrix has to be factorized (again).
 */
export async function storedDigest(store: CheckpointStore, name: string): Promise<string | undefined> {
  if (!(await store.has(name))) return undefined;
  try {
    return entryDigest(await store.load(name));
  } catch {
    return undefined;
  }
}

/** Removes `name`'s entry from a checkpoint folder (a result whose hash did not match, to be redone). */
export async function removeEntry(dir: string, name: string): Promise<void> {
  await rm(join(dir, `${encodeURIComponent(name)}.safetensors`), { force: true });
}

/** SHA-256 of a file's bytes. */
export async function fileDigest(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/**
 * Writes a module's calibration inputs into the store for the workers (atomically; left as is when the same
 * bytes are already there, e.g. after a coordinator restart). Returns the file (relative to the store) and
 * its hash, which the worker checks before use.
 */
export async function writeCalibration(
  dir: string,
  module: string,
  inputs: Tensor,
): Promise<{ file: string; digest: string }> {
  const file = join(CALIBRATION_FOLDER, `${encodeURIComponent(module)}.safetensors`);
  await mkdir(join(dir, CALIBRATION_FOLDER), { recursive: true });
  await writeSafetensors(join(dir, file), { inputs }, { module });
  return { file, digest: await fileDigest(join(dir, file)) };
}

/** Reads calibration inputs the coordinator wrote, after checking their hash. */
export async function readCalibration(dir: string, ref: { file: string; digest: string }): Promise<Tensor> {
  const path = join(dir, ref.file);
  const digest = await fileDigest(path);
  if (digest !== ref.digest)
    throw new Error(
      `calibration inputs ${path}: content hash ${digest.slice(0, 12)}…, expected ${ref.digest.slice(0, 12)}… (the coordinator rewrites them when it restarts)`,
    );
  const file = await openSafetensors(path);
  try {
    return await file.readTensor('inputs');
  } finally {
    await file.close();
  }
}
