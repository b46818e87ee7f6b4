import { createHash } from 'node:crypto';
import type { CompressMethod } from '@blastkit/models';

/** The one BullMQ queue every compress run and worker uses (jobs carry their run; ids keep runs apart). */
export const QUEUE_NAME = 'blastkit-compress';

/** Version of {@link MatrixJob}: a worker refuses jobs of another version rather than guess. */
export const JOB_VERSION = 1;

/**
 * One matrix to factorize, as a worker needs it: everything `compressLinears` would use for this module in a
 * single-machine run, so the worker's checkpoint entry holds the same factors. Paths are absolute and must be
 * readable (the model) and writable (the store) at the same path on every worker machine (a shared folder).
 * Never holds the queue URL or any other secret.
 */
export interface MatrixJob {
  version: typeof JOB_VERSION;
  /** The shared checkpoint folder (`<out>.checkpoints`), holding the run's `run.json`. */
  store: string;
  /** The run's fingerprint as the coordinator opened the store with it; a worker opens it with the same. */
  fingerprint: Record<string, unknown>;
  /** The model's weights, as `blastkit compress` was given them (a folder or a file path). */
  model: string;
  /** The linear module (name without `.weight`). */
  module: string;
  /** The weight's shape [out, in] as the coordinator reads it; a worker reading another shape refuses the job. */
  shape: [number, number];
  /** The module's position in the run: it is solved with seed `seed + index`, as a single-machine run does. */
  index: number;
  total: number;
  method: CompressMethod;
  ratio: number;
  ratioPattern?: Record<string, number>;
  /** An exact rank for this module (budget file or allocation). */
  rank?: number;
  blocks?: number;
  steps?: number;
  /** The run's base seed. */
  seed: number;
  covariance?: 'full' | 'block-diagonal';
  /** The backend to open, by name (what answered for the coordinator, e.g. 'native'). */
  backend: string;
  /** Calibration inputs [N, in] of this module, written by the coordinator into the store. */
  calibration?: { file: string; digest: string };
}

/** What a worker reports for a finished job: the entry's content hash, checked by the coordinator. */
export interface MatrixJobResult {
  module: string;
  digest: string;
  /** True when the entry was already in the store (a job done twice writes nothing the second time). */
  reused: boolean;
  seconds: number;
}

/**
 * A tag for one run in one store: the same fingerprint and store give the same tag, so a restarted
 * coordinator finds its jobs again instead of adding them twice, and two runs never share a job.
 */
export function runTag(fingerprint: Record<string, unknown>, store: string): string {
  return createHash('sha256').update(JSON.stringify({ fingerprint, store })).digest('hex').slice(0, 24);
}

/** The BullMQ job id of one module of a run (BullMQ ids may not contain ':'; URI encoding removes them). */
export function jobIdFor(tag: string, module: string): string {
  return `${tag}-${encodeURIComponent(module)}`;
}
