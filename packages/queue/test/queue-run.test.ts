// The queued run end to end, with real processes (issue 22): a password-protected redis-server on loopback
// (append-only file, its own folder), three worker processes (one running two jobs at a time) and the
// coordinator. One worker is killed with SIGKILL mid-job and Redis is restarted mid-run; the coordinator is
// killed, a finished result is damaged and the coordinator started again. Each time the folder must be
// byte-identical to a run without the queue. Then: a job every worker refuses stops the run with its reason,
// a wrong password is told at the start, and the password appears in no output, file or Redis' append-only
// file. The tests run in order and share Redis and the workers; afterAll kills every process started here.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueConnectionError } from '../src/connection.js';
import { fillCheckpointsThroughQueue } from '../src/coordinator.js';
import { startWorker } from '../src/worker.js';

const here = dirname(fileURLToPath(import.meta.url));
const model = join(here, '..', '..', 'models', 'fixtures', 'tiny-llama');
const compressScript = join(here, 'processes', 'compress.mjs');
const workerScript = join(here, 'processes', 'worker.mjs');
const PASSWORD = 'q-test-Pa55/word';
const SEED = '11';
// enough solver steps that a job lasts long enough to be killed in the middle of it
const STEPS = '400';

interface Started {
  child: ChildProcess;
  /** Every stdout line that parsed as JSON, as they come. */
  events: Record<string, unknown>[];
  output: () => string;
  /** Resolves with the first event that `match` accepts (rejects if the process exits first). */
  waitFor: (match: (e: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

const started: Started[] = [];
const outputs: string[] = [];

/** Starts a process in its own process group (so a SIGKILL to the group takes its children too, as a lost
 * machine would). */
function start(command: string, args: string[]): Started {
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  let text = '';
  let pendingLine = '';
  const waiters: {
    match: (e: Record<string, unknown>) => boolean;
    resolve: (e: Record<string, unknown>) => void;
  }[] = [];
  child.stdout?.on('data', (d: Buffer) => {
    text += d;
    pendingLine += d;
    const lines = pendingLine.split('\n');
    pendingLine = lines.pop() ?? '';
    for (const line of lines) {
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line);
      } catch {
        continue;
      }
      events.push(e);
      for (const w of [...waiters])
        if (w.match(e)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(e);
        }
    }
  });
  child.stderr?.on('data', (d: Buffer) => {
    text += d;
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => resolve(code));
    // e.g. ENOENT: the command is not installed
    child.on('error', (err) => {
      text += `${command}: ${err.message}`;
      resolve(null);
    });
  });
  const s: Started = {
    child,
    events,
    output: () => text,
    exited,
    waitFor: (match) =>
      new Promise((resolve, reject) => {
        const seen = events.find(match);
        if (seen) return resolve(seen);
        waiters.push({ match, resolve });
        void exited.then((code) =>
          reject(new Error(`${args.join(' ')} exited (${code}) first; its output:\n${text}`)),
        );
      }),
  };
  started.push(s);
  return s;
}

function killGroup(s: Started, signal: NodeJS.Signals = 'SIGKILL') {
  try {
    process.kill(-(s.child.pid as number), signal);
  } catch {
    // already gone
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

let dir: string;
let port: number;
let redis: Started;
let url: string;
let reference: Record<string, string>;

async function startRedis(): Promise<Started> {
  const r = start('redis-server', [
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
    '--requirepass',
    PASSWORD,
  ]);
  await new Promise<void>((resolve, reject) => {
    const check = () => (r.output().includes('Ready to accept connections') ? resolve() : undefined);
    r.child.stdout?.on('data', check);
    void r.exited.then(() =>
      reject(new Error(`redis-server exited (the test needs Debian's redis-server package): ${r.output()}`)),
    );
  });
  return r;
}

/** Every file under `root` with its bytes (base64). */
function snapshot(root: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const f of readdirSync(root, { recursive: true }) as string[])
    if (statSync(join(root, f)).isFile()) files[f] = readFileSync(join(root, f)).toString('base64');
  return files;
}

function compress(out: string, queue?: string): Started {
  return start(process.execPath, [compressScript, model, out, SEED, STEPS, ...(queue ? [queue] : [])]);
}

function spawnWorker(name: string, concurrency = 1): Started {
  return start(process.execPath, [workerScript, url, name, String(concurrency)]);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-queue-run-'));
  await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'redis')));
  port = await freePort();
  url = `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}`;
  redis = await startRedis();
  const local = compress(join(dir, 'local'));
  expect(await local.exited, local.output()).toBe(0);
  reference = snapshot(join(dir, 'local'));
});

afterAll(async () => {
  for (const s of started) killGroup(s);
  await Promise.all(started.map((s) => s.exited));
  await rm(dir, { recursive: true, force: true });
});

describe('a queued compress run', () => {
  let workers: Started[];

  it('survives a worker killed mid-job and a Redis restart; the folder is byte-identical to a local run', async () => {
    // w3 runs two jobs at a time (two child processes)
    workers = [spawnWorker('w1'), spawnWorker('w2'), spawnWorker('w3', 2)];
    await Promise.all(workers.map((w) => w.waitFor((e) => e.type === 'ready')));
    const out = join(dir, 'queued');
    const coordinator = compress(out, url);
    const victim = await workers[0].waitFor((e) => e.type === 'started');
    killGroup(workers[0]);
    await workers[0].exited;
    // Redis goes down and comes back (same port, same folder) while the killed worker's job still holds its lock
    const doneAtRestart = coordinator.events.filter((e) => e.state === 'done').length;
    killGroup(redis, 'SIGTERM');
    await redis.exited;
    redis = await startRedis();
    expect(await coordinator.exited, coordinator.output()).toBe(0);
    outputs.push(coordinator.output(), ...workers.map((w) => w.output()));
    const finished = coordinator.events.find((e) => e.event === 'finished') as Record<string, number>;
    // the queue did every matrix; the ordinary pipeline only resumed them from the store
    expect(finished.resumed).toBe(finished.modules);
    expect(doneAtRestart).toBeLessThan(finished.modules);
    expect(snapshot(out)).toEqual(reference);
    // the killed worker's job was found stalled by another worker and finished there
    // progress across workers: who took each job, and who finished it
    const takers = new Set(coordinator.events.filter((e) => e.state === 'running').map((e) => e.worker));
    expect(takers.size).toBeGreaterThan(1);
    const rescued = coordinator.events.find((e) => e.state === 'done' && e.module === victim.module);
    expect(rescued?.worker).toMatch(/^w[23]$/);
    expect(
      workers.slice(1).some((w) => w.events.some((e) => e.type === 'stalled' && e.id === victim.id)),
    ).toBe(true);
  });

  it('a restarted coordinator finds its jobs again, and a result whose hash does not match is redone', async () => {
    const out = join(dir, 'restarted');
    const first = compress(out, url);
    const done = await first.waitFor(() => first.events.filter((e) => e.state === 'done').length >= 3);
    killGroup(first);
    await first.exited;
    // damage one finished result in the shared store: it still reads, but its factors are no longer the
    // ones its worker reported
    const damaged = done.module as string;
    const entry = join(`${out}.checkpoints`, `${encodeURIComponent(damaged)}.safetensors`);
    const bytes = await readFile(entry);
    bytes[bytes.length - 2] ^= 0x40;
    await writeFile(entry, bytes);
    const second = compress(out, url);
    expect(await second.exited, second.output()).toBe(0);
    outputs.push(first.output(), second.output(), ...workers.map((w) => w.output()));
    const finished = second.events.find((e) => e.event === 'finished') as {
      queued: { queued: number; redone: number };
    };
    // the first coordinator's jobs were found, not added again: the only job added is the redo
    expect(finished.queued).toMatchObject({ queued: 1, redone: 1 });
    expect(second.events.some((e) => e.state === 'redo' && e.module === damaged)).toBe(true);
    expect(snapshot(out)).toEqual(reference);
    expect(existsSync(`${out}.checkpoints`)).toBe(false);
  });

  it('a job that fails on every worker stops the run with its reason; started again, it is tried again (3 more attempts)', async () => {
    const store = join(dir, 'failing.checkpoints');
    // the coordinator's backend is not the workers': they refuse the job rather than write other bytes
    const fingerprint = { run: 'failing', backend: { name: 'native', device: 'cpu' } };
    const options = {
      url,
      store,
      fingerprint,
      model,
      weights: { shapeOf: () => [32, 32] },
      modules: ['model.layers.0.self_attn.q_proj'],
      method: 'blast' as const,
      ratio: 0.5,
      blocks: 2,
      seed: 0,
      backend: 'cpu',
      pollMs: 100,
    };
    const reason =
      /model\.layers\.0\.self_attn\.q_proj: failed after 3 attempts \(last on w[23]\): .*needs the coordinator's backend/;
    await expect(fillCheckpointsThroughQueue(options)).rejects.toThrow(reason);
    const events: string[] = [];
    await expect(
      fillCheckpointsThroughQueue({ ...options, onProgress: (e) => events.push(e.state) }),
    ).rejects.toThrow(reason);
    // queued again with its attempts reset: the same 3 attempts, the same reason
    expect(events[0]).toBe('queued');
  });

  it('a wrong password is told at the start, without showing it, and nothing is written', async () => {
    const wrong = `redis://:${encodeURIComponent('not-the-Pa55')}@127.0.0.1:${port}`;
    const store = join(dir, 'refused.checkpoints');
    const run = fillCheckpointsThroughQueue({
      url: wrong,
      store,
      fingerprint: { run: 'refused' },
      model,
      weights: { shapeOf: () => [32, 32] },
      modules: ['model.layers.0.self_attn.q_proj'],
      method: 'blast',
      ratio: 0.5,
      seed: 0,
      backend: 'cpu',
      connectTimeoutMs: 1500,
    });
    await expect(run).rejects.toThrow(QueueConnectionError);
    const message = await run.catch((e: Error) => e.message);
    expect(message).toMatch(/cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ .*WRONGPASS/);
    expect(message).not.toContain('not-the-Pa55');
    expect(existsSync(store)).toBe(false);
    // the built processor: the child process runs JavaScript
    const processor = join(here, '..', 'dist', 'processor.js');
    const worker = startWorker({ url: wrong, processor, connectTimeoutMs: 1500 });
    await expect(worker).rejects.toThrow(/cannot reach Redis at redis:\/\/:\*\*\*@.*WRONGPASS/);
  });

  it('never writes the password: not in any output, folder, or Redis append-only file', async () => {
    expect(outputs.length).toBeGreaterThan(0);
    const secrets = [PASSWORD, encodeURIComponent(PASSWORD)];
    for (const text of outputs) for (const s of secrets) expect(text).not.toContain(s);
    const files = snapshot(dir);
    expect(Object.keys(files).some((f) => f.startsWith('redis'))).toBe(true);
    for (const [name, base64] of Object.entries(files)) {
      const content = Buffer.from(base64, 'base64').toString('latin1');
      for (const s of secrets) expect(content.includes(s), name).toBe(false);
    }
  });
});
