import { fileURLToPath } from 'node:url';
import type { Backend, Tensor } from '@blastkit/core';
import { DirectoryCheckpointStore } from '@blastkit/factorize/node';
import { compressLinears, type TensorSource } from '@blastkit/models';
import { type Job, Worker } from 'bullmq';
import { connectOrFail } from './connection.js';
import { JOB_VERSION, type MatrixJob, type MatrixJobResult, QUEUE_NAME } from './job.js';
import { entryDigest, readCalibration, storedDigest } from './store.js';
import { parseQueueUrl } from './url.js';

/** What a worker needs from its machine to run a job: the model's weights and a backend, by name. */
export interface WorkerEnvironment {
  /** The weights of the linears as `compressLinears` reads them (`<module>.weight`, [out, in]). */
  openWeights(model: string): Promise<TensorSource>;
  openBackend(name: string): Promise<Backend>;
  /** Opens the shared store (default: `DirectoryCheckpointStore.open` for every job). */
  openStore?(dir: string, fingerprint: Record<string, unknown>): Promise<DirectoryCheckpointStore>;
}

/**
 * Runs one matrix job: factorizes the module exactly as a single-machine `compressLinears` run would (same
 * plan, seed `seed + index`, same backend) into the shared store, and returns the entry's content hash. An
 * entry already in the store for this run is kept and its hash returned (a job done twice writes nothing the
 * second time).
 */
export async function runMatrixJob(
  job: MatrixJob,
  env: WorkerEnvironment,
  onStep?: (step: number, total: number) => void,
): Promise<MatrixJobResult> {
  if (job.version !== JOB_VERSION)
    throw new Error(
      `job for '${job.module}' has version ${job.version}, this worker reads version ${JOB_VERSION}: run the same blastkit on every machine`,
    );
  const start = performance.now();
  // the same fingerprint as the coordinator's: entries carry its run tag, and a store of another run is refused
  const store = await (env.openStore?.(job.store, job.fingerprint) ??
    DirectoryCheckpointStore.open(job.store, { fingerprint: job.fingerprint }));
  const existing = await storedDigest(store, job.module);
  if (existing !== undefined) return { module: job.module, digest: existing, reused: true, seconds: 0 };
  const backend = await env.openBackend(job.backend);
  const wanted = JSON.stringify(job.fingerprint.backend ?? null);
  const have = JSON.stringify(backend.describe());
  // another engine or thread count may round differently: the output would no longer match a local run
  if (job.fingerprint.backend !== undefined && wanted !== have)
    throw new Error(
      `job for '${job.module}' needs the coordinator's backend ${wanted}, this worker has ${have} (same build and BLASTKIT_THREADS on every machine)`,
    );
  const source = await env.openWeights(job.model);
  const shape = source.shapeOf(`${job.module}.weight`);
  // e.g. GPT-2's Conv1D weights are stored [in, out]: the worker must read them as the coordinator does
  if (shape.join(',') !== job.shape.join(','))
    throw new Error(
      `job for '${job.module}': ${job.model} gives this worker a weight of shape [${shape.join(', ')}], the coordinator read [${job.shape.join(', ')}]`,
    );
  let calibration: Map<string, Tensor> | undefined;
  if (job.calibration)
    calibration = new Map([[job.module, await readCalibration(job.store, job.calibration)]]);
  await compressLinears(source, [job.module], {
    method: job.method,
    ratio: job.ratio,
    ...(job.ratioPattern ? { ratioPattern: job.ratioPattern } : {}),
    ...(job.rank !== undefined ? { ranks: new Map([[job.module, job.rank]]) } : {}),
    blocks: job.blocks,
    steps: job.steps,
    // one module at index 0 of this call: seed + index is what the whole run gives it
    seed: job.seed + job.index,
    backend,
    store,
    calibration,
    covariance: job.covariance,
    onStep: (_module, step, total) => onStep?.(step, total),
  });
  return {
    module: job.module,
    digest: entryDigest(await store.load(job.module)),
    reused: false,
    seconds: (performance.now() - start) / 1000,
  };
}

/**
 * The job function of a sandboxed BullMQ processor file (the file's default export): each child process
 * keeps its backends and open models between jobs. Factorizing holds the CPU for minutes, so it runs in a
 * child process and the worker's own event loop stays free to renew the job's lock; otherwise a busy worker
 * would look stalled and its job would be handed to another.
 */
export function createProcessor(env: WorkerEnvironment) {
  const backends = new Map<string, Promise<Backend>>();
  const models = new Map<string, Promise<TensorSource>>();
  const stores = new Map<string, Promise<DirectoryCheckpointStore>>();
  const cached: WorkerEnvironment = {
    openBackend: (name) => cachedPromise(backends, name, () => env.openBackend(name)),
    openWeights: (model) => cachedPromise(models, model, () => env.openWeights(model)),
    // once per child and run: opening also clears temporaries of processes that are not alive here, which on
    // a folder shared between machines may be another machine's write in progress
    openStore: (dir, fingerprint) =>
      cachedPromise(stores, JSON.stringify([dir, fingerprint]), () =>
        DirectoryCheckpointStore.open(dir, { fingerprint }),
      ),
  };
  return async (job: { data: MatrixJob; updateProgress(p: object): Promise<void> }) => {
    let last = 0;
    return runMatrixJob(job.data, cached, (step, total) => {
      // at most once a second: progress goes through Redis
      const now = performance.now();
      if (now - last < 1000 && step !== total) return;
      last = now;
      void job.updateProgress({ step, total }).catch(() => {});
    });
  };
}

function cachedPromise<T>(cache: Map<string, Promise<T>>, key: string, open: () => Promise<T>): Promise<T> {
  let p = cache.get(key);
  if (!p) {
    p = open();
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

/** The processor file that opens models and backends with this package's defaults (see processor.ts). */
export const DEFAULT_PROCESSOR = fileURLToPath(new URL('./processor.js', import.meta.url));

export interface WorkerOptions {
  /** `redis://` or `rediss://` URL, with a password where Redis needs one. */
  url: string;
  /** Jobs at a time, each in its own child process (default 1). */
  concurrency?: number;
  /** A sandboxed processor file whose default export is `createProcessor(env)` (default: DEFAULT_PROCESSOR). */
  processor?: string;
  /**
   * How long a job's lock lasts without renewal (ms, default 30 s); a killed worker's job is handed to
   * another after at most this plus `stalledInterval`.
   */
  lockDuration?: number;
  /** How often this worker looks for stalled jobs (ms, default 30 s). */
  stalledInterval?: number;
  /** How long to wait for Redis at the start before giving up (ms, default 15 s). */
  connectTimeoutMs?: number;
  /** Shown in the queue as the job's worker (default: host name and process id). */
  name?: string;
  /**
   * Environment variables added to the processor's child processes (a sandboxed processor's only input
   * besides the job: e.g. the CLI's `worker --backend` choice).
   */
  processorEnv?: Record<string, string>;
  /** Each job started, finished or failed, and connection trouble, with the password hidden. */
  onEvent?: (event: WorkerEvent) => void;
}

export type WorkerEvent =
  | { type: 'started' | 'stalled'; module: string; id: string }
  | { type: 'completed'; module: string; id: string; result: MatrixJobResult }
  | { type: 'failed'; module: string; id: string; message: string }
  | { type: 'error'; message: string };

/**
 * Starts a worker that takes matrix jobs from the queue until closed. A job whose worker dies (kill -9, a lost
 * machine) is found stalled by the remaining workers once its lock expires and run again; a stalled job is
 * retried up to 1000 times (stalls say nothing about the job), a failing one 3 times.
 */
export async function startWorker(
  options: WorkerOptions,
): Promise<{ close(force?: boolean): Promise<void> }> {
  const target = parseQueueUrl(options.url);
  const lockDuration = options.lockDuration ?? 30_000;
  const worker = new Worker<MatrixJob, MatrixJobResult>(QUEUE_NAME, options.processor ?? DEFAULT_PROCESSOR, {
    connection: target.connection,
    concurrency: options.concurrency ?? 1,
    lockDuration,
    stalledInterval: options.stalledInterval ?? 30_000,
    maxStalledCount: 1000,
    ...(options.name ? { name: options.name } : {}),
    useWorkerThreads: false,
    ...(options.processorEnv
      ? { workerForkOptions: { env: { ...process.env, ...options.processorEnv } } }
      : {}),
  });
  const emit = options.onEvent ?? (() => {});
  const module = (job: Job<MatrixJob> | undefined) => job?.data.module ?? '?';
  worker.on('active', (job) => emit({ type: 'started', module: module(job), id: job.id ?? '' }));
  worker.on('completed', (job, result) =>
    emit({ type: 'completed', module: module(job), id: job.id ?? '', result }),
  );
  worker.on('failed', (job, err) =>
    emit({
      type: 'failed',
      module: module(job),
      id: job?.id ?? '',
      message: target.redact(err.message),
    }),
  );
  worker.on('stalled', (id) => emit({ type: 'stalled', module: '', id }));
  worker.on('error', (err) => emit({ type: 'error', message: target.redact(err.message) }));
  await connectOrFail(worker, target, options.connectTimeoutMs ?? 15_000);
  // close(): take no new job, finish the running ones; close(true): stop now (their locks expire and other
  // workers redo them)
  return { close: (force = false) => worker.close(force) };
}
