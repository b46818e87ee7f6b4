import { existsSync } from 'node:fs';
import { Tensor } from '@blastkit/core';
import { openSafetensors, writeSafetensors } from '@blastkit/safetensors';
import * as tf from '@tensorflow/tfjs-core';
import type { AdamW } from '../optim.js';

/** Written into every checkpoint's metadata; a file without it is not a training checkpoint. */
export const CHECKPOINT_FORMAT = 'blastkit-train-checkpoint/1';

/** Raised when a checkpoint cannot be used to resume this run (other settings, other model, damaged). */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** What a checkpoint holds besides tensors. */
export interface CheckpointInfo {
  /** Optimizer steps completed. */
  step: number;
  /** The run's settings as a flat record: resuming with different ones is refused. */
  fingerprint: Record<string, string | number | boolean>;
  /** Mean loss of each completed step (so a resumed run reports the whole curve). */
  losses: number[];
}

function host(t: tf.Tensor): Tensor {
  return new Tensor(t.shape, Float32Array.from(t.dataSync() as Float32Array));
}

/**
 * Saves parameters (`param.<name>`), AdamW moments and the step to one safetensors file, atomically (a
 * temporary file renamed over the old checkpoint: an interruption leaves the previous one intact).
 */
export async function saveCheckpoint(
  path: string,
  params: ReadonlyMap<string, tf.Variable>,
  optimizer: AdamW,
  info: CheckpointInfo,
): Promise<void> {
  const tensors: Record<string, Tensor> = {};
  for (const [name, v] of params) tensors[`param.${name}`] = host(v);
  const state = optimizer.state();
  if (state.step !== info.step)
    throw new CheckpointError(`optimizer is at step ${state.step}, checkpoint says ${info.step}`);
  for (const [k, t] of Object.entries(state.tensors)) {
    tensors[`opt.${k}`] = host(t);
    t.dispose();
  }
  await writeSafetensors(path, tensors, {
    format: CHECKPOINT_FORMAT,
    step: String(info.step),
    fingerprint: JSON.stringify(info.fingerprint),
    losses: JSON.stringify(info.losses),
  });
}

/** Reads a checkpoint's metadata only (cheap). */
export async function readCheckpointInfo(path: string): Promise<CheckpointInfo> {
  const file = await openSafetensors(path);
  try {
    return parseInfo(path, file.metadata);
  } finally {
    await file.close();
  }
}

function parseInfo(path: string, meta: Readonly<Record<string, string>>): CheckpointInfo {
  if (meta.format !== CHECKPOINT_FORMAT)
    throw new CheckpointError(`${path}: not a training checkpoint (format '${meta.format ?? 'none'}')`);
  const step = Number(meta.step);
  if (!Number.isInteger(step) || step < 0) throw new CheckpointError(`${path}: bad step '${meta.step}'`);
  try {
    return {
      step,
      fingerprint: JSON.parse(meta.fingerprint ?? '{}'),
      losses: JSON.parse(meta.losses ?? '[]'),
    };
  } catch (err) {
    throw new CheckpointError(`${path}: damaged metadata (${(err as Error).message})`);
  }
}

/**
 * Restores parameters and optimizer state from `path` into `params` / `optimizer`, after checking that the
 * run's fingerprint matches (same model, same settings) and that every tensor is present with its shape.
 */
export async function loadCheckpoint(
  path: string,
  params: ReadonlyMap<string, tf.Variable>,
  optimizer: AdamW,
  fingerprint: CheckpointInfo['fingerprint'],
): Promise<CheckpointInfo> {
  if (!existsSync(path)) throw new CheckpointError(`${path}: no checkpoint to resume from`);
  const file = await openSafetensors(path);
  try {
    const info = parseInfo(path, file.metadata);
    const differences = Object.keys({ ...fingerprint, ...info.fingerprint })
      .filter((k) => fingerprint[k] !== info.fingerprint[k])
      .map(
        (k) =>
          `${k}: checkpoint ${JSON.stringify(info.fingerprint[k])}, now ${JSON.stringify(fingerprint[k])}`,
      );
    if (differences.length > 0)
      throw new CheckpointError(`${path}: written by a run with other settings (${differences.join('; ')})`);
    const names = new Set(file.names());
    const read = async (name: string, shape: readonly number[]): Promise<Tensor> => {
      if (!names.has(name)) throw new CheckpointError(`${path}: missing tensor '${name}'`);
      const t = await file.readTensor(name);
      if (t.shape.length !== shape.length || shape.some((d, i) => d !== t.shape[i]))
        throw new CheckpointError(`${path}: tensor '${name}' has shape [${t.shape}], expected [${shape}]`);
      return t;
    };
    const values: [tf.Variable, Tensor][] = [];
    for (const [name, v] of params) values.push([v, await read(`param.${name}`, v.shape)]);
    const opt: Record<string, tf.Tensor> = {};
    optimizer.variables.forEach((v, i) => {
      for (const k of [`adamw.m.${i}`, `adamw.v.${i}`]) opt[k] = tf.zeros(v.shape);
    });
    try {
      for (const k of Object.keys(opt)) {
        const t = await read(`opt.${k}`, opt[k].shape);
        opt[k].dispose();
        opt[k] = tf.tensor(t.data, [...t.shape]);
      }
      // only now that everything read cleanly: a failed resume leaves the model as it was
      for (const [v, t] of values) tf.tidy(() => v.assign(tf.tensor(t.data, [...t.shape])));
      optimizer.loadState({ step: info.step, tensors: opt });
    } finally {
      for (const t of Object.values(opt)) t.dispose();
    }
    return info;
  } finally {
    await file.close();
  }
}
