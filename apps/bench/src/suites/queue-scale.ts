// Queue scaling (issue 22): the queued half of a compress run — one BullMQ job per matrix, worker processes —
// with 1, 2 and 4 workers against one process doing the same matrices, and the queue's own cost per job. A
// redis-server on loopback in its own temporary folder, stories15M, low-rank at 50% on the reference CPU backend
// (a real factorization, a fraction of a second per matrix), seed 0. Every queued result is checked against the
// one-process run's (content hash of each matrix's factors).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchAsset } from '@blastkit/assets';
import { CpuBackend } from '@blastkit/core';
import { MemoryCheckpointStore } from '@blastkit/factorize';
import { DirectoryCheckpointStore } from '@blastkit/factorize/node';
import { type CompressMethod, compressLinears, Llama2cCheckpoint } from '@blastkit/models';
import { entryDigest, fillCheckpointsThroughQueue, storedDigest } from '@blastkit/queue';
import { round } from '../timing.js';

export interface QueueScaleOptions {
  /** The first 4 matrices, 1 and 2 workers: checks the suite runs (seconds), measures nothing worth reporting. */
  quick?: boolean;
  log?: (line: string) => void;
  /** A llama2.c checkpoint (default: stories15M, fetched on first use). */
  model?: string;
}

/** One queued run with a number of workers. */
export interface QueueScaleRun {
  workers: number;
  /** From the first job added to the last result checked, seconds. */
  seconds: number;
  jobsPerSecond: number;
  /** One process's time for the same matrices over this run's. */
  speedupOverOneProcess: number;
  /** The workers' own time per job, summed: above `seconds` × workers when they share too few cores. */
  jobSecondsSum: number;
  /** Jobs each worker finished. */
  jobsByWorker: Record<string, number>;
  /** The ordinary pipeline resuming every matrix from the store afterwards (what assembles the folder). */
  assembleSeconds: number;
}

const SETTINGS = { ratio: 0.5, seed: 0 } as const;

/** Runs the queue-scale suite; needs `redis-server` on the PATH (Debian's redis-server package). */
export async function runQueueScale(options: QueueScaleOptions = {}) {
  const log = options.log ?? (() => {});
  const quick = options.quick ?? false;
  const model = options.model ?? (await fetchAsset('stories15M'))['stories15M.bin'];
  const workerCounts = quick ? [1, 2] : [1, 2, 4];
  const before = loadavg().map((x) => round(x));
  const dir = await mkdtemp(join(tmpdir(), 'blastkit-queue-scale-'));
  const children: ChildProcess[] = [];
  const source = await Llama2cCheckpoint.open(model);
  try {
    const url = await startRedis(dir, children);
    const all = source
      .names()
      .filter((n) => n.endsWith('_proj.weight'))
      .map((n) => n.slice(0, -'.weight'.length));
    const modules = quick ? all.slice(0, 4) : all;
    const backend = new CpuBackend();
    const fingerprint = (method: CompressMethod, run: number) => ({
      model,
      method,
      run,
      backend: backend.describe(),
      modules,
    });

    // best of two: the first pass also pays for reading the file and warming up the JIT
    let localSeconds = Number.POSITIVE_INFINITY;
    let localFirstPassSeconds = 0;
    const local = new MemoryCheckpointStore();
    for (let i = 0; i < 2; i++) {
      const t0 = performance.now();
      await compressLinears(source, modules, {
        ...SETTINGS,
        method: 'lowrank',
        backend,
        ...(i === 0 ? { store: local } : {}),
      });
      const seconds = (performance.now() - t0) / 1000;
      if (i === 0) localFirstPassSeconds = seconds;
      localSeconds = Math.min(localSeconds, seconds);
    }
    const localDigests = new Map<string, string>();
    for (const m of modules) localDigests.set(m, entryDigest(await local.load(m)));
    log(`one process: ${modules.length} matrices in ${localSeconds.toFixed(1)} s`);

    let identicalToOneProcess = true;
    const queued = async (workers: number, method: CompressMethod) => {
      const ws = Array.from({ length: workers }, (_, i) =>
        startProcess(process.execPath, [workerScript(), url, `w${i + 1}`], children),
      );
      await Promise.all(ws.map((w) => lineMatching(w, /"ready"/)));
      const store = join(dir, `${method}-${workers}.checkpoints`);
      let jobSecondsSum = 0;
      const jobsByWorker: Record<string, number> = {};
      const fill = await fillCheckpointsThroughQueue({
        url,
        store,
        fingerprint: fingerprint(method, workers),
        model,
        weights: source,
        modules,
        method,
        ...SETTINGS,
        backend: 'cpu',
        pollMs: 50,
        onProgress: (e) => {
          if (e.state !== 'done') return;
          jobSecondsSum += e.seconds ?? 0;
          if (e.worker) jobsByWorker[e.worker] = (jobsByWorker[e.worker] ?? 0) + 1;
        },
      });
      const opened = await DirectoryCheckpointStore.open(store, {
        fingerprint: fingerprint(method, workers),
      });
      if (method === 'lowrank')
        for (const m of modules)
          if ((await storedDigest(opened, m)) !== localDigests.get(m)) identicalToOneProcess = false;
      // the ordinary pipeline then takes every matrix from the store
      const t = performance.now();
      const resumed = await compressLinears(source, modules, { ...SETTINGS, method, backend, store: opened });
      const assembleSeconds = (performance.now() - t) / 1000;
      await Promise.all(ws.map(stopProcess));
      if (resumed.modules.some((m) => !m.resumed))
        throw new Error(`queue-scale: a matrix of the ${workers}-worker run was not in the store`);
      return { seconds: fill.seconds, jobSecondsSum, jobsByWorker, assembleSeconds };
    };

    const runs: QueueScaleRun[] = [];
    for (const workers of workerCounts) {
      const r = await queued(workers, 'lowrank');
      runs.push({
        workers,
        seconds: round(r.seconds),
        jobsPerSecond: round(modules.length / r.seconds),
        speedupOverOneProcess: round(localSeconds / r.seconds),
        jobSecondsSum: round(r.jobSecondsSum),
        jobsByWorker: r.jobsByWorker,
        assembleSeconds: round(r.assembleSeconds),
      });
      log(
        `${workers} worker(s): ${r.seconds.toFixed(1)} s, ${(modules.length / r.seconds).toFixed(2)} jobs/s`,
      );
    }
    // jobs that cost next to nothing to compute (block-diagonal): what is left is the queue's own cost per job
    // (enqueue, pick-up, the child process, the store, the coordinator's check)
    const cheap = await queued(1, 'block-diag');
    const overhead = {
      method: 'block-diag',
      perJobMs: round((1000 * cheap.seconds) / modules.length),
      computeMsPerJob: round((1000 * cheap.jobSecondsSum) / modules.length),
    };
    log(`queue overhead: ${overhead.perJobMs.toFixed(1)} ms per job with one worker`);
    return {
      suite: 'queue-scale' as const,
      quick,
      node: process.version,
      cpus: cpus().length,
      backend: 'cpu',
      loadAverage: { before, after: loadavg().map((x) => round(x)) },
      model: quick ? 'stories15M (first 4 matrices)' : 'stories15M',
      method: 'lowrank' as const,
      ratio: SETTINGS.ratio,
      jobs: modules.length,
      /** One process, best of two passes (the second is warm: file cache, JIT). */
      localSeconds: round(localSeconds),
      /** Its first pass, cold as each worker's child process starts. */
      localFirstPassSeconds: round(localFirstPassSeconds),
      /** Every queued matrix's factors hash the same as the one-process run's. */
      identicalToOneProcess,
      runs,
      overhead,
    };
  } finally {
    await source.close();
    for (const c of children) c.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

/** The built worker script (tests run this file from src/, where only the compiled worker exists in dist/). */
function workerScript(): string {
  const here = fileURLToPath(import.meta.url);
  return here.endsWith('.ts')
    ? join(dirname(here), '..', '..', 'dist', 'suites', 'queue-scale-worker.js')
    : join(dirname(here), 'queue-scale-worker.js');
}

/** A redis-server on a free loopback port, its files in `dir` (append-only, as a queued run should use it). */
async function startRedis(dir: string, children: ChildProcess[]): Promise<string> {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  await mkdir(join(dir, 'redis'));
  const redis = startProcess(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      join(dir, 'redis'),
      '--appendonly',
      'yes',
      '--save',
      '',
    ],
    children,
  );
  await lineMatching(redis, /Ready to accept connections/, "redis-server (Debian's redis-server package)");
  return `redis://127.0.0.1:${port}`;
}

function startProcess(command: string, args: string[], children: ChildProcess[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return child;
}

/** Resolves once the child's stdout matches `pattern`; rejects if it exits or cannot start first. */
function lineMatching(child: ChildProcess, pattern: RegExp, what = 'process'): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (d: Buffer) => {
      text += d;
      if (pattern.test(text)) resolve();
    });
    child.on('error', (err) => reject(new Error(`queue-scale: ${what} did not start: ${err.message}`)));
    child.on('exit', (code) => reject(new Error(`queue-scale: ${what} exited (${code}) first: ${text}`)));
  });
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
