// The kill test (issue 17): compress, export and factorize run as child processes and are killed with SIGKILL
// at seeded random instants (and a few with SIGTERM / SIGINT); after every kill the output is absent or whole,
// the next run resumes, and the final bytes equal an uninterrupted run's with nothing temporary left anywhere.
// BLASTKIT_KILL_TEST_ROUNDS sets the number of SIGKILLs (default 21, spread over the three commands);
// BLASTKIT_KILL_TEST_SEED the seed of the instants (default 17). See apps/cli/README.md.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBin, modelFixtures } from './cli-harness.js';
import { tinyTokenizerJson } from './tiny-tokenizer.js';

const ROUNDS = Math.max(3, Number(process.env.BLASTKIT_KILL_TEST_ROUNDS ?? 21));
const SEED = Number(process.env.BLASTKIT_KILL_TEST_SEED ?? 17);

/** mulberry32: a small seeded generator of numbers in [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let dir: string;
let dense: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-kill-'));
  dense = join(dir, 'dense');
  await cp(join(modelFixtures, 'tiny-llama'), dense, { recursive: true });
  await writeFile(join(dense, 'tokenizer.json'), tinyTokenizerJson());
  await mkdir(join(dir, 'ref'));
  await mkdir(join(dir, 'run'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  ms: number;
}

function start(args: string[]): { child: ChildProcess; done: Promise<Exit> } {
  const t0 = performance.now();
  const child = spawn(process.execPath, [cliBin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const done = new Promise<Exit>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr, ms: performance.now() - t0 })),
  );
  return { child, done };
}

/** Every file under `root` (or the file itself) with its bytes. */
function snapshot(root: string): Record<string, string> | undefined {
  if (!existsSync(root)) return undefined;
  if (statSync(root).isFile()) return { '': readFileSync(root).toString('base64') };
  const files: Record<string, string> = {};
  for (const f of readdirSync(root, { recursive: true }) as string[])
    if (statSync(join(root, f)).isFile()) files[f] = readFileSync(join(root, f)).toString('base64');
  return files;
}

const TEMPORARY = /\.(tmp|old|partial)-|\.fetch-/;
/** Names under `root` that only an unfinished or killed run leaves (temporaries, checkpoints). */
function leftovers(root: string, checkpoints: boolean): string[] {
  return (readdirSync(root, { recursive: true }) as string[]).filter(
    (f) => TEMPORARY.test(f) || (checkpoints && /\.checkpoints?\b/.test(f)),
  );
}

interface Job {
  name: string;
  /** Arguments writing to `out` (the folder or file under test). */
  args: (out: string) => string[];
  out: (root: string) => string;
}

const jobs: Job[] = [
  {
    name: 'compress',
    args: (out) => [
      'compress',
      dense,
      '--method',
      'blast',
      '--ratio',
      '0.5',
      '--blocks',
      '4',
      '--steps',
      '40',
      '--seed',
      '3',
      '--out',
      out,
      '--resume',
      '--quiet',
    ],
    out: (root) => join(root, 'm'),
  },
  {
    name: 'export',
    // the reference's compressed folder is the input of both runs
    args: (out) => ['export', join(dir, 'ref', 'm'), '--dense', '--out', out],
    out: (root) => join(root, 'd'),
  },
  {
    name: 'factorize',
    args: (out) => [
      'factorize',
      '--input',
      `${join(dense, 'model.safetensors')}:model.layers.0.mlp.up_proj.weight`,
      '--method',
      'blast',
      '--rank',
      '8',
      '--blocks',
      '4',
      '--steps',
      '300',
      '--seed',
      '2',
      '--out',
      out,
      '--quiet',
    ],
    out: (root) => join(root, 'f.safetensors'),
  },
];

describe('kill -9 at random instants, then resume', () => {
  it(
    `${ROUNDS} SIGKILLs (seed ${SEED}) over compress, export and factorize: outputs whole or absent, final bytes equal an uninterrupted run's, nothing left behind`,
    async () => {
      const random = rng(SEED);
      const report: string[] = [];
      let kills = 0;
      for (const [j, job] of jobs.entries()) {
        const refOut = job.out(join(dir, 'ref'));
        const reference = await start(job.args(refOut)).done;
        expect(reference.stderr).toBe('');
        expect(reference.code).toBe(0);
        const expected = snapshot(refOut);
        const out = job.out(join(dir, 'run'));
        const runDir = join(dir, 'run');
        /** Starts the job, sends `signal` at a seeded instant; whether it hit a running process. */
        const round = async (signal: NodeJS.Signals): Promise<boolean> => {
          const delay = random() * reference.ms;
          const { child, done } = start(job.args(out));
          await new Promise((r) => setTimeout(r, delay));
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          const exit = await done;
          const killed = exit.signal === signal || (signal === 'SIGINT' && exit.code === 130);
          report.push(
            `${job.name} ${signal} at ${delay.toFixed(0)} ms: ${killed ? 'killed' : `exit ${exit.code}`}`,
          );
          if (!killed) expect(exit.code, exit.stderr).toBe(0);
          // atomic outputs: never a part
          const now = snapshot(out);
          if (now !== undefined) expect(now, report.at(-1)).toEqual(expected);
          // a handled signal removes this process's temporaries at once (checkpoints stay, to resume from;
          // what an earlier SIGKILL left is removed by the next run that gets as far as writing)
          const mine = leftovers(runDir, false).filter((f) => f.includes(`-${child.pid}-`));
          if (signal !== 'SIGKILL') expect(mine, report.at(-1)).toEqual([]);
          return killed;
        };
        // this job's share of the SIGKILLs (an instant after the run ended is drawn again), then one SIGTERM
        // and one SIGINT
        const count = Math.floor(ROUNDS / jobs.length) + (j < ROUNDS % jobs.length ? 1 : 0);
        for (let done = 0, tries = 0; done < count && tries < 3 * count; tries++)
          if (await round('SIGKILL')) {
            done++;
            kills++;
          }
        await round('SIGTERM');
        await round('SIGINT');
        const final = await start(job.args(out)).done;
        expect(final.stderr).toBe('');
        expect(final.code).toBe(0);
        expect(snapshot(out)).toEqual(expected);
        expect(leftovers(runDir, true)).toEqual([]);
        expect(leftovers(join(dir, 'ref'), true)).toEqual([]);
      }
      console.log(`kill test (seed ${SEED}):\n  ${report.join('\n  ')}`);
      expect(kills).toBe(ROUNDS);
      expect(readdirSync(join(dir, 'run')).sort()).toEqual(['d', 'f.safetensors', 'm']);
    },
    60_000 + ROUNDS * 8_000,
  );
});
