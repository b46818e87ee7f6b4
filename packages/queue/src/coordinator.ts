import { setTimeout as sleep } from 'node:timers/promises';
import type { Tensor } from '@blastkit/core';
import { DirectoryCheckpointStore, type RunFingerprint } from '@blastkit/factorize/node';
import type { CompressMethod } from '@blastkit/models';
import { type Job, Queue } from 'bullmq';
import { connectOrFail } from './connection.js';
import { JOB_VERSION, jobIdFor, type MatrixJob, type MatrixJobResult, QUEUE_NAME, runTag } from './job.js';
import { removeEntry, storedDigest, writeCalibration } from './store.js';
import { parseQueueUrl } from './url.js';

export interface QueueRunOptions {
  /** `redis://` or `rediss://` URL, with a password where Redis needs one (never logged). */
  url: string;
  /** The shared checkpoint folder, at the same absolute path on every worker. */
  store: string;
  /** The run's fingerprint, as `DirectoryCheckpointStore.open` takes it. */
  fingerprint: RunFingerprint;
  /** The model, at a path every worker can read. */
  model: string;
  /** The linears' weights as the run reads them (`<module>.weight`, [out, in]): for their shapes. */
  weights: { shapeOf(name: string): readonly number[] };
  /** The modules to factorize, in the run's order (module i gets seed + i). */
  modules: readonly string[];
  method: CompressMethod;
  ratio: number;
  ratioPattern?: Record<string, number>;
  ranks?: ReadonlyMap<string, number>;
  blocks?: number;
  steps?: number;
  seed: number;
  covariance?: 'full' | 'block-diagonal';
  /** The backend the workers open, by name (what answered for the coordinator). */
  backend: string;
  /** Calibration inputs [N, in] by module, for the calibrated methods. */
  calibration?: ReadonlyMap<string, Tensor>;
  /** How long to wait for Redis at the start before giving up (ms, default 15 s). */
  connectTimeoutMs?: number;
  /** Connection trouble during the run (Redis restarting, …), password hidden: the run waits for it. */
  onWarning?: (message: string) => void;
  /** How often job states are read (ms, default 250). */
  pollMs?: number;
  /** Times a result whose hash does not match is redone before the run gives up (default 3). */
  redoLimit?: number;
  signal?: AbortSignal;
  onProgress?: (event: QueueProgress) => void;
}

export interface QueueProgress {
  module: string;
  /** Matrices in the store and checked, of `total`. */
  done: number;
  total: number;
  /**
   * 'queued': a job was added; 'running': a worker took it; 'done': its result is in the store and its hash
   * matched; 'store': it was there before this run queued anything; 'redo': its hash did not match and it was
   * queued again.
   */
  state: 'queued' | 'running' | 'done' | 'store' | 'redo';

  /** The worker that did it, as BullMQ names it. */
  worker?: string;
  seconds?: number;
}

export interface QueueRunResult {
  /** Jobs added by this call (a restarted coordinator adds none for jobs already queued). */
  queued: number;
  /** Matrices already in the store before any job. */
  fromStore: number;
  /** Results redone because their hash did not match the worker's. */
  redone: number;
  seconds: number;
}

/** A job that failed on its workers (after its retries), or a run that could not be completed. */
export class QueueRunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueRunError';
  }
}

/**
 * The coordinator's half of a queued compress run: adds one job per matrix not yet in the shared store, waits
 * until every matrix is there with the content hash its worker reported, and returns. The caller then runs its
 * ordinary single-machine pipeline on the same store, which resumes every matrix from it: the output is the
 * one a single machine writes. Job ids come from the run's fingerprint and the module, so a coordinator
 * killed and started again finds its jobs (queued, running or done) instead of adding them twice; a Redis
 * restarted with persistence keeps them, and the coordinator's reads wait for it to come back.
 */
export async function fillCheckpointsThroughQueue(options: QueueRunOptions): Promise<QueueRunResult> {
  const start = performance.now();
  const target = parseQueueUrl(options.url);
  const tag = runTag(options.fingerprint, options.store);
  const queue = new Queue<MatrixJob, MatrixJobResult>(QUEUE_NAME, { connection: target.connection });
  // before anything is written: a wrong address or password leaves no trace
  await connectOrFail(queue, target, options.connectTimeoutMs ?? 15_000, options.onWarning);
  const total = options.modules.length;
  let done = 0;
  let queued = 0;
  let fromStore = 0;
  let redone = 0;
  const progress = (e: Omit<QueueProgress, 'done' | 'total'>) => options.onProgress?.({ ...e, done, total });
  try {
    const store = await DirectoryCheckpointStore.open(options.store, { fingerprint: options.fingerprint });
    const payload = async (module: string, index: number): Promise<MatrixJob> => {
      const inputs = options.calibration?.get(module);
      const rank = options.ranks?.get(module);
      return {
        version: JOB_VERSION,
        store: options.store,
        fingerprint: options.fingerprint,
        model: options.model,
        module,
        shape: options.weights.shapeOf(`${module}.weight`).slice(0, 2) as [number, number],
        index,
        total,
        method: options.method,
        ratio: options.ratio,
        ...(options.ratioPattern ? { ratioPattern: options.ratioPattern } : {}),
        ...(rank !== undefined ? { rank } : {}),
        ...(options.blocks !== undefined ? { blocks: options.blocks } : {}),
        ...(options.steps !== undefined ? { steps: options.steps } : {}),
        seed: options.seed,
        ...(options.covariance ? { covariance: options.covariance } : {}),
        backend: options.backend,
        ...(inputs ? { calibration: await writeCalibration(options.store, module, inputs) } : {}),
      };
    };
    const add = async (module: string, index: number) => {
      // an id that exists already makes add() a no-op: re-adding after a restart never duplicates a job
      await queue.add(module, await payload(module, index), {
        jobId: jobIdFor(tag, module),
        attempts: 3,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: false,
        removeOnFail: false,
      });
      queued++;
    };
    const pending = new Map<string, number>();
    for (const [index, module] of options.modules.entries()) {
      throwIfAborted(options.signal);
      const job = await queue.getJob(jobIdFor(tag, module));
      if (!job && (await storedDigest(store, module)) !== undefined) {
        // finished before any job (an earlier single-machine run, or a queued run whose jobs were cleared)
        fromStore++;
        done++;
        progress({ module, state: 'store' });
        continue;
      }
      if (!job) {
        await add(module, index);
        progress({ module, state: 'queued' });
      } else if (await job.isFailed()) {
        // it failed on its workers before this coordinator stopped: starting again is asking to try again
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        progress({ module, state: 'queued' });
      }
      pending.set(module, index);
    }
    const redoLimit = options.redoLimit ?? 3;
    const redos = new Map<string, number>();
    const running = new Set<string>();
    while (pending.size > 0) {
      throwIfAborted(options.signal);
      const names = [...pending.keys()];
      const states = await Promise.all(names.map((m) => queue.getJobState(jobIdFor(tag, m))));
      for (const [i, module] of names.entries()) {
        const state = states[i];
        const index = pending.get(module) as number;
        if (state === 'unknown') {
          // removed from Redis (by hand, or a Redis without persistence restarted): queue it again
          await add(module, index);
          continue;
        }
        if (state === 'active' && !running.has(module)) {
          running.add(module);
          const job = await queue.getJob(jobIdFor(tag, module));
          progress({ module, state: 'running', ...(job?.processedBy ? { worker: job.processedBy } : {}) });
        }
        if (state !== 'completed' && state !== 'failed') continue;
        const job = (await queue.getJob(jobIdFor(tag, module))) as Job<MatrixJob, MatrixJobResult>;
        if (state === 'failed')
          throw new QueueRunError(
            `${module}: failed after ${job.attemptsMade} attempts${job.processedBy ? ` (last on ${job.processedBy})` : ''}: ${target.redact(job.failedReason ?? 'no reason given')}`,
          );
        const digest = await storedDigest(store, module);
        if (digest !== undefined && digest === job.returnvalue?.digest) {
          pending.delete(module);
          done++;
          progress({
            module,
            state: 'done',
            ...(job.processedBy ? { worker: job.processedBy } : {}),
            seconds: job.returnvalue.seconds,
          });
          continue;
        }
        // missing, unreadable or not what the worker wrote: redo it from scratch
        const count = (redos.get(module) ?? 0) + 1;
        if (count > redoLimit)
          throw new QueueRunError(
            `${module}: the stored result's content hash did not match its worker's ${redoLimit} times (is ${options.store} the same folder on every machine?)`,
          );
        redos.set(module, count);
        redone++;
        running.delete(module);
        await job.remove();
        await removeEntry(options.store, module);
        await add(module, index);
        progress({ module, state: 'redo' });
      }
      if (pending.size > 0) await sleep(options.pollMs ?? 250);
    }
    // every result is checked and in the store: the jobs have done their part
    for (const module of options.modules) {
      const job = await queue.getJob(jobIdFor(tag, module));
      await job?.remove().catch(() => {});
    }
    return { queued, fromStore, redone, seconds: (performance.now() - start) / 1000 };
  } catch (err) {
    if (err instanceof Error) err.message = target.redact(err.message);
    throw err;
  } finally {
    await queue.close();
  }
}

function throwIfAborted(signal: AbortSignal | undefined) {
  if (signal?.aborted) throw new QueueRunError('queued run: interrupted');
}
