// `blastkit compress --queue` and `blastkit worker` as processes (issue 22): a password-protected redis-server on
// loopback on a free port, three workers (one running two jobs at a time), and a coordinator; one worker is
// killed with SIGKILL in the middle of its first job. The compressed folder must be byte-identical to a plain
// `compress` with the same seed, the killed worker's job finished by another, and the password in no output
// or file. Needs Debian's redis-server: skipped where it is missing, except under CI (CI=true), which installs
// it, so that there its absence fails.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import { cliBin, modelFixtures, runCli } from './cli-harness.js';

const haveRedis = spawnSync('redis-server', ['--version']).status === 0;
const model = join(modelFixtures, 'tiny-llama');
const PASSWORD = 'cli-Q/pa55word';
// blast-data on seeded inputs (the calibration goes to the workers through the store), 2 blocks for the tiny
// model's 16×32 matrices; enough steps that a job outlasts the moment between its start and the kill
const SETTINGS = [
  '--method',
  'blast-data',
  '--calibration',
  'random',
  '--ratio',
  '0.5',
  '--blocks',
  '2',
  '--steps',
  '800',
  '--seed',
  '7',
  '--json',
];

interface Started {
  child: ChildProcess;
  /** stdout lines that parsed as JSON, as they came. */
  events: Record<string, unknown>[];
  stdout: () => string;
  stderr: () => string;
  waitFor: (match: (e: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

const started: Started[] = [];

/** Starts `command` in its own process group: a SIGKILL to the group takes its children too, as a lost machine. */
function start(command: string, args: string[]): Started {
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  let out = '';
  let err = '';
  let partial = '';
  const waiters: {
    match: (e: Record<string, unknown>) => boolean;
    resolve: (e: Record<string, unknown>) => void;
  }[] = [];
  child.stdout?.on('data', (d: Buffer) => {
    out += d;
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
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
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => resolve(code));
    child.on('error', (e) => {
      err += `${command}: ${e.message}`;
      resolve(null);
    });
  });
  const s: Started = {
    child,
    events,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor: (match) =>
      new Promise((resolve, reject) => {
        const seen = events.find(match);
        if (seen) return resolve(seen);
        waiters.push({ match, resolve });
        void exited.then((code) =>
          reject(new Error(`${args.join(' ')} exited (${code}) first:\n${out}\n${err}`)),
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

/** Every file under `root` with its bytes (base64). */
function snapshot(root: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const f of readdirSync(root, { recursive: true }) as string[])
    if (statSync(join(root, f)).isFile()) files[f] = readFileSync(join(root, f)).toString('base64');
  return files;
}

const blastkit = (args: string[]) => start(process.execPath, [cliBin, ...args]);

describe('compress --queue: refused options (no Redis needed)', () => {
  it('refuses --sequential, whose calibration depends on the blocks before, naming the flag', async () => {
    const run = runCli([
      'compress',
      model,
      '--method',
      'blast-data',
      '--calibration',
      'random',
      '--ratio',
      '0.5',
      '--sequential',
      '--queue',
      `redis://:${PASSWORD}@127.0.0.1:1`,
      '--out',
      join(tmpdir(), 'blastkit-never-written'),
    ]);
    await expect(run).rejects.toThrow(UsageError);
    const message = await run.catch((e: Error) => e.message);
    expect(message).toMatch(/^--sequential cannot be used with --queue/);
    expect(message).not.toContain(PASSWORD);
  });

  it('refuses --store without --queue, and a URL that is not redis:// — password hidden', async () => {
    const out = join(tmpdir(), 'blastkit-never-written');
    const base = ['compress', model, '--ratio', '0.5', '--out', out];
    await expect(runCli([...base, '--store', join(tmpdir(), 'x')])).rejects.toThrow(
      /--store: only with --queue/,
    );
    const secret = encodeURIComponent(PASSWORD);
    const wrong = runCli([...base, '--queue', `http://user:${secret}@127.0.0.1:6379`]);
    await expect(wrong).rejects.toThrow(/'http:\/\/user:\*\*\*@127\.0\.0\.1:6379' has scheme 'http'/);
    expect(await wrong.catch((e: Error) => e.message)).not.toContain(secret);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a --store folder that holds other files (it is removed when the run finishes)', async () => {
    const shared = await mkdtemp(join(tmpdir(), 'blastkit-shared-'));
    try {
      await writeFile(join(shared, 'notes.txt'), 'not a checkpoint');
      const out = join(tmpdir(), 'blastkit-never-written');
      const run = runCli([
        ...['compress', model, '--ratio', '0.5', '--out', out],
        ...['--queue', 'redis://127.0.0.1:1', '--store', shared],
      ]);
      await expect(run).rejects.toThrow(/--store .*: holds files and is not a checkpoint folder/);
      expect(readdirSync(shared)).toEqual(['notes.txt']);
      // nor one inside the output folder, which is replaced whole
      await expect(
        runCli([
          ...['compress', model, '--ratio', '0.5', '--out', out],
          ...['--queue', 'redis://127.0.0.1:1', '--store', join(out, 'run.checkpoints')],
        ]),
      ).rejects.toThrow(/--store .*: must lie apart from --out/);
      expect(existsSync(out)).toBe(false);
    } finally {
      await rm(shared, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!haveRedis && process.env.CI !== 'true')(
  'compress --queue with blastkit worker processes',
  () => {
    let dir: string;
    let url: string;
    let reference: Record<string, string>;
    let plain: Started;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'blastkit-cli-queue-'));
      await mkdir(join(dir, 'redis'));
      const port = await freePort();
      url = `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}`;
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
        '--requirepass',
        PASSWORD,
      ]);
      await new Promise<void>((resolve, reject) => {
        const check = () => (redis.stdout().includes('Ready to accept connections') ? resolve() : undefined);
        redis.child.stdout?.on('data', check);
        void redis.exited.then(() =>
          reject(
            new Error(
              `redis-server did not start (Debian's redis-server package is needed): ${redis.stderr()}`,
            ),
          ),
        );
      });
      plain = blastkit(['compress', model, ...SETTINGS, '--out', join(dir, 'plain')]);
      expect(await plain.exited, plain.stderr()).toBe(0);
      reference = snapshot(join(dir, 'plain'));
    });

    afterAll(async () => {
      for (const s of started) killGroup(s);
      await Promise.all(started.map((s) => s.exited));
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('survives a worker killed mid-job; the folder is byte-identical to a plain compress; workers stop cleanly', async () => {
      const worker = (name: string, concurrency = 1) =>
        blastkit([
          'worker',
          '--queue',
          url,
          '--name',
          name,
          '--concurrency',
          String(concurrency),
          '--lock-duration',
          '2000',
          '--json',
        ]);
      const workers = [worker('w1'), worker('w2'), worker('w3', 2)];
      await Promise.all(workers.map((w) => w.waitFor((e) => e.type === 'ready')));
      const out = join(dir, 'queued');
      // the store the workers share, named apart from the output (on a cluster: a folder on the shared disk)
      const store = join(dir, 'shared', 'run.checkpoints');
      const coordinator = blastkit([
        'compress',
        model,
        ...SETTINGS,
        '--out',
        out,
        '--queue',
        url,
        '--store',
        store,
      ]);
      const victim = await workers[0].waitFor((e) => e.type === 'started');
      killGroup(workers[0]);
      await workers[0].exited;
      // it died in the middle of its job: what it took, another worker finishes
      expect(workers[0].events.some((e) => e.type === 'completed' && e.id === victim.id)).toBe(false);

      expect(await coordinator.exited, coordinator.stderr()).toBe(0);
      expect(snapshot(out)).toEqual(reference);
      expect(existsSync(store)).toBe(false);
      expect(existsSync(`${out}.checkpoints`)).toBe(false);
      const result = JSON.parse(coordinator.stdout()) as {
        modules: unknown[];
        resumedModules: number;
        queue: { url: string; queued: number; workers: Record<string, number> };
      };
      // the queue did every matrix; the ordinary pipeline only resumed them from the store
      expect(result.resumedModules).toBe(result.modules.length);
      expect(result.queue.queued).toBe(result.modules.length);
      expect(result.queue.url).toMatch(/^redis:\/\/:\*\*\*@127\.0\.0\.1:\d+$/);
      const counted = Object.values(result.queue.workers).reduce((a, b) => a + b, 0);
      expect(counted).toBe(result.modules.length);
      expect(result.queue.workers.w1 ?? 0).toBe(0);
      const rescuers = workers
        .slice(1)
        .filter((w) => w.events.some((e) => e.type === 'completed' && e.id === victim.id));
      expect(rescuers).toHaveLength(1);
      expect(
        workers.slice(1).some((w) => w.events.some((e) => e.type === 'stalled' && e.id === victim.id)),
      ).toBe(true);
      // progress across workers on stderr: the count of matrices done and each worker's share
      expect(coordinator.stderr()).toMatch(/queue: 14\/14 .*\| .*w[23] \d+/);

      // SIGTERM: a clean shutdown with a summary
      for (const w of workers.slice(1)) killGroup(w, 'SIGTERM');
      for (const w of workers.slice(1)) {
        expect(await w.exited, w.stderr()).toBe(0);
        expect(w.events.at(-1)).toMatchObject({ type: 'stopped', failed: 0 });
      }

      // the password: in no output and no file written (the plain run's output and the queued one's)
      const secrets = [PASSWORD, encodeURIComponent(PASSWORD)];
      for (const s of [plain, coordinator, ...workers])
        for (const secret of secrets) {
          expect(s.stdout()).not.toContain(secret);
          expect(s.stderr()).not.toContain(secret);
        }
      for (const [name, base64] of Object.entries(snapshot(out)))
        for (const secret of secrets)
          expect(Buffer.from(base64, 'base64').toString('latin1').includes(secret), name).toBe(false);
    });
  },
);
