import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  parseQueueUrl,
  QueueConnectionError,
  QueueUrlError,
  startWorker,
  type WorkerEvent,
} from '@blastkit/queue';
import { UsageError } from '../errors.js';

/** Set by `blastkit worker --backend`: the backend every job opens instead of the one its coordinator named. */
export const WORKER_BACKEND_ENV = 'BLASTKIT_WORKER_BACKEND';

/** The sandboxed processor (built JavaScript beside this file): it opens models and backends as the CLI does. */
const PROCESSOR = fileURLToPath(new URL('./worker-processor.js', import.meta.url));

export interface WorkerCommandOptions {
  /** `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS); the password is never shown. */
  queue: string;
  /** Jobs at a time, each in its own child process (default 1). */
  concurrency?: number;
  /** The backend every job opens (default: the one its coordinator's run used, named in the job). */
  backend?: string;
  /** The worker's name in the queue and in the coordinator's progress (default `<host>:<pid>`). */
  name?: string;
  /**
   * How long a job's lock lasts without renewal (ms, default 30 s): a job of a worker that died goes to another
   * within about this long (each worker looks for such jobs every half of it).
   */
  lockDuration?: number;
  /** How long to wait for Redis at the start (ms, default 15 s). */
  connectTimeoutMs?: number;
  /** Aborted (SIGINT, SIGTERM): take no new job, finish the running ones, close. */
  signal: AbortSignal;
  /** Connected and taking jobs (the URL with its password hidden). */
  onReady?: (worker: string, display: string) => void;
  /** Each job started, done, failed or found stalled, and connection trouble (password hidden). */
  onEvent?: (event: WorkerEvent, worker: string) => void;
  /** Stopping was asked for while jobs still run. */
  onStopping?: (running: number) => void;
}

export interface WorkerCommandResult {
  worker: string;
  queue: string;
  /** Jobs this worker finished (`reused`: their result was already in the store). */
  completed: number;
  reused: number;
  failed: number;
  seconds: number;
}

/**
 * `blastkit worker`: takes matrix jobs (`compress --queue`) from the queue until `signal` is aborted, then
 * finishes the jobs it is running and returns. Each job runs in a child process that opens the model and the
 * backend as `blastkit compress` does, so any architecture compress knows can be queued.
 */
export async function runWorker(options: WorkerCommandOptions): Promise<WorkerCommandResult> {
  let display: string;
  try {
    display = parseQueueUrl(options.queue).display;
  } catch (err) {
    if (err instanceof QueueUrlError) throw new UsageError(err.message);
    throw err;
  }
  const name = options.name ?? `${hostname()}:${process.pid}`;
  const lockDuration = options.lockDuration ?? 30_000;
  const start = performance.now();
  const counts = { completed: 0, reused: 0, failed: 0 };
  const running = new Set<string>();
  let worker: Awaited<ReturnType<typeof startWorker>>;
  try {
    worker = await startWorker({
      url: options.queue,
      name,
      processor: PROCESSOR,
      concurrency: options.concurrency ?? 1,
      lockDuration,
      stalledInterval: Math.max(500, Math.floor(lockDuration / 2)),
      ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
      ...(options.backend ? { processorEnv: { [WORKER_BACKEND_ENV]: options.backend } } : {}),
      onEvent: (e) => {
        if (e.type === 'started') running.add(e.id);
        if (e.type === 'completed' || e.type === 'failed') running.delete(e.id);
        if (e.type === 'completed') {
          counts.completed++;
          if (e.result.reused) counts.reused++;
        }
        if (e.type === 'failed') counts.failed++;
        options.onEvent?.(e, name);
      },
    });
  } catch (err) {
    // a wrong address or password: told at the start, like any other bad argument
    if (err instanceof QueueConnectionError) throw new UsageError(err.message);
    throw err;
  }
  options.onReady?.(name, display);
  if (!options.signal.aborted)
    await new Promise<void>((resolve) => options.signal.addEventListener('abort', () => resolve()));
  options.onStopping?.(running.size);
  await worker.close();
  return { worker: name, queue: display, ...counts, seconds: (performance.now() - start) / 1000 };
}

/** One line for a worker event (stderr). */
export function formatWorkerEvent(worker: string, e: WorkerEvent): string {
  switch (e.type) {
    case 'started':
      return `${worker}: ${e.module} started`;
    case 'completed':
      return e.result.reused
        ? `${worker}: ${e.module} already in the store (hash ${e.result.digest.slice(0, 12)}…)`
        : `${worker}: ${e.module} done in ${e.result.seconds.toFixed(1)} s (hash ${e.result.digest.slice(0, 12)}…)`;
    case 'failed':
      return `${worker}: ${e.module} failed: ${e.message}`;
    case 'stalled':
      return `${worker}: job ${e.id} was stalled (its worker stopped): queued again`;
    case 'error':
      return `${worker}: ${e.message}`;
  }
}

/** The human-readable summary once the worker has stopped. */
export function formatWorker(r: WorkerCommandResult): string {
  return `worker ${r.worker} on ${r.queue}: ${r.completed} jobs done (${r.reused} already in the store), ${r.failed} failed, ${r.seconds.toFixed(1)} s`;
}
