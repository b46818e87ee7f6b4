// Queue scaling on stories15M (issue 22): end-to-end time and jobs/s of the queued half of a compress run with
// 1, 2 and 4 worker processes against one process doing the same matrices, and the queue's own cost per job
// (jobs that take ~3 ms to compute: block-diagonal). A redis-server on loopback with its own temp folder, the
// reference CPU backend, low-rank at 50% (a real factorization, ~0.6 s per matrix here), seed 0.
// node bench/queue-scale.mjs [MODEL.bin] [--quick]   (JSON on stdout; needs redis-server and a built package)
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuBackend } from '@blastkit/core';
import { DirectoryCheckpointStore } from '@blastkit/factorize/node';
import { compressLinears, Llama2cCheckpoint } from '@blastkit/models';
import { fillCheckpointsThroughQueue } from '../dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const model =
  args.find((a) => !a.startsWith('--')) ??
  join(homedir(), '.cache', 'blastkit', 'stories15M', 'stories15M.bin');
const WORKERS = quick ? [1, 2] : [1, 2, 4];
const log = (line) => process.stderr.write(`${line}\n`);

const dir = await mkdtemp(join(tmpdir(), 'blastkit-queue-scale-'));
const children = [];
const start = (command, argv) => {
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return child;
};
const lineMatching = (child, pattern) =>
  new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (d) => {
      text += d;
      if (pattern.test(text)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`exited (${code}) before ${pattern}: ${text}`)));
  });
const stop = async (child) => {
  child.kill('SIGTERM');
  if (child.exitCode === null) await new Promise((resolve) => child.on('exit', resolve));
};

try {
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  await mkdir(join(dir, 'redis'));
  const redis = start('redis-server', [
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
  ]);
  await lineMatching(redis, /Ready to accept connections/);
  const url = `redis://127.0.0.1:${port}`;

  const source = await Llama2cCheckpoint.open(model);
  const all = source
    .names()
    .filter((n) => n.endsWith('_proj.weight'))
    .map((n) => n.slice(0, -'.weight'.length));
  const modules = quick ? all.slice(0, 8) : all;
  const backend = new CpuBackend();
  const settings = { ratio: 0.5, seed: 0 };
  const fingerprint = (method, run) => ({ model, method, run, backend: backend.describe(), modules });

  // best of two: the first pass also pays for reading the file and warming up the JIT
  let localSeconds = Infinity;
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    await compressLinears(source, modules, { ...settings, method: 'lowrank', backend });
    localSeconds = Math.min(localSeconds, (performance.now() - t0) / 1000);
  }
  log(`one process: ${modules.length} matrices in ${localSeconds.toFixed(1)} s`);

  const queued = async (workers, method) => {
    const ws = Array.from({ length: workers }, (_, i) =>
      start(process.execPath, [join(here, '..', 'test', 'processes', 'worker.mjs'), url, `w${i + 1}`]),
    );
    await Promise.all(ws.map((w) => lineMatching(w, /"ready"/)));
    const store = join(dir, `${method}-${workers}.checkpoints`);
    const jobSeconds = [];
    const fill = await fillCheckpointsThroughQueue({
      url,
      store,
      fingerprint: fingerprint(method, workers),
      model,
      weights: source,
      modules,
      method,
      ...settings,
      backend: 'cpu',
      pollMs: 50,
      onProgress: (e) => e.state === 'done' && jobSeconds.push(e.seconds ?? 0),
    });
    // the ordinary pipeline then takes every matrix from the store
    const t = performance.now();
    const resumed = await compressLinears(source, modules, {
      ...settings,
      method,
      backend,
      store: await DirectoryCheckpointStore.open(store, { fingerprint: fingerprint(method, workers) }),
    });
    const assembleSeconds = (performance.now() - t) / 1000;
    await Promise.all(ws.map(stop));
    if (resumed.modules.some((m) => !m.resumed)) throw new Error('a matrix was not in the store');
    return {
      workers,
      seconds: fill.seconds,
      jobsPerSecond: modules.length / fill.seconds,
      jobSecondsSum: jobSeconds.reduce((a, b) => a + b, 0),
      assembleSeconds,
    };
  };

  const runs = [];
  for (const workers of WORKERS) {
    const r = await queued(workers, 'lowrank');
    runs.push({ ...r, speedupOverOneProcess: localSeconds / r.seconds });
    log(`${workers} worker(s): ${r.seconds.toFixed(1)} s, ${r.jobsPerSecond.toFixed(2)} jobs/s`);
  }
  // jobs that cost ~nothing to compute: what is left is the queue's own cost per job (enqueue, pick-up, the
  // child process, the store, the coordinator's check)
  const cheap = await queued(1, 'block-diag');
  const overhead = {
    method: 'block-diag',
    perJobMs: (1000 * cheap.seconds) / modules.length,
    computeMsPerJob: (1000 * cheap.jobSecondsSum) / modules.length,
  };
  log(`queue overhead: ${overhead.perJobMs.toFixed(1)} ms per job with one worker`);
  await source.close();
  process.stdout.write(
    `${JSON.stringify({ model, method: 'lowrank', ratio: 0.5, backend: 'cpu', jobs: modules.length, localSeconds, runs, overhead }, null, 1)}\n`,
  );
} finally {
  for (const c of children) c.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
}
