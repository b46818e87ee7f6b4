import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlastMatrix, Rng } from '@blastkit/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blastFast, factorizeMany } from '../src/index.js';
import {
  CheckpointMismatchError,
  DirectoryCheckpointStore,
  fingerprintDifference,
  RUN_FILE,
  SOLVER_VERSION,
} from '../src/node/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-ckpt-fp-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const targets = ['a', 'b', 'c'].map((name, i) => ({
  name,
  load: async () => BlastMatrix.random(16, 16, 2, 3, new Rng(10 + i)).toDense(),
}));
const solve = (A: import('@blastkit/core').Tensor, ctx: { seed: number; signal?: AbortSignal }) =>
  blastFast(A, { numBlocks: 2, rank: 3, steps: 5, seed: ctx.seed, signal: ctx.signal });
const fingerprint = { weights: 'abc', method: 'blast', ratio: 0.5, seed: 1 };

/** Runs factorizeMany into `ckpt` and stops after the first matrix. */
async function interrupted(ckpt: string, fp = fingerprint) {
  const controller = new AbortController();
  await expect(
    factorizeMany(targets, solve, {
      store: await DirectoryCheckpointStore.open(ckpt, { fingerprint: fp }),
      seed: 1,
      signal: controller.signal,
      onMatrix: () => controller.abort(new Error('interrupted')),
    }),
  ).rejects.toThrow('interrupted');
}

describe('DirectoryCheckpointStore with a run fingerprint', () => {
  it('a new folder appears with run.json (and the solver version); the same run reopens it', async () => {
    const ckpt = join(dir, 'm.checkpoints');
    await interrupted(ckpt);
    expect((await readdir(ckpt)).sort()).toEqual(['a.safetensors', RUN_FILE]);
    expect(JSON.parse(await readFile(join(ckpt, RUN_FILE), 'utf8'))).toEqual({
      solver: SOLVER_VERSION,
      ...fingerprint,
    });
    expect((await readdir(dir)).sort()).toEqual(['m.checkpoints']);
    const resumed: boolean[] = [];
    await factorizeMany(targets, solve, {
      store: await DirectoryCheckpointStore.open(ckpt, { fingerprint: { ...fingerprint } }),
      seed: 1,
      onMatrix: (e) => resumed.push(e.resumed),
    });
    expect(resumed).toEqual([true, false, false]);
  });

  it('another run is refused, naming the first difference, and its checkpoints are left alone', async () => {
    const ckpt = join(dir, 'm.checkpoints');
    await interrupted(ckpt);
    const before = await readdir(ckpt);
    const err = await DirectoryCheckpointStore.open(ckpt, {
      fingerprint: { ...fingerprint, ratio: 0.4, seed: 2 },
    }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(CheckpointMismatchError);
    expect((err as CheckpointMismatchError).key).toBe('ratio');
    expect((err as Error).message).toMatch(
      /was written by another run \(ratio: checkpoints 0\.5, this run 0\.4\)/,
    );
    await expect(
      DirectoryCheckpointStore.open(ckpt, { fingerprint: { ...fingerprint, calibration: 'x' } }),
    ).rejects.toThrow(/calibration: checkpoints null, this run "x"/);
    expect(await readdir(ckpt)).toEqual(before);
  });

  it('refuses an entry of another run copied in, and a folder of entries without run.json', async () => {
    const a = join(dir, 'a.checkpoints');
    const b = join(dir, 'b.checkpoints');
    await interrupted(a);
    await interrupted(b, { ...fingerprint, seed: 9 });
    await cp(join(a, 'a.safetensors'), join(b, 'a.safetensors'));
    const store = await DirectoryCheckpointStore.open(b, { fingerprint: { ...fingerprint, seed: 9 } });
    await expect(store.load('a')).rejects.toThrow(/a\.safetensors belongs to another run/);
    await rm(join(a, RUN_FILE));
    await expect(DirectoryCheckpointStore.open(a, { fingerprint })).rejects.toThrow(
      /holds checkpoints without a run fingerprint/,
    );
  });

  it("removes a killed run's torn writes (temporaries of a dead process) when it opens", async () => {
    const ckpt = join(dir, 'm.checkpoints');
    await interrupted(ckpt);
    const dead = Number(
      spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
        .stdout,
    );
    await writeFile(join(ckpt, `b.safetensors.tmp-${dead}-0123456789ab`), 'torn');
    await writeFile(join(dir, `m.checkpoints.tmp-${dead}-0123456789ab`), 'half-made folder');
    const store = await DirectoryCheckpointStore.open(ckpt, { fingerprint });
    expect(await store.names()).toEqual(['a']);
    expect((await readdir(ckpt)).sort()).toEqual(['a.safetensors', RUN_FILE]);
    expect(existsSync(join(dir, `m.checkpoints.tmp-${dead}-0123456789ab`))).toBe(false);
  });

  it('fingerprintDifference compares values as JSON, in the order of the keys', () => {
    expect(fingerprintDifference({ a: 1, b: [1, 2] }, { a: 1, b: [1, 2] })).toBeUndefined();
    expect(fingerprintDifference({ a: 1, b: 2 }, { a: 2, b: 3 })).toBe('a: checkpoints 1, this run 2');
    expect(fingerprintDifference({ a: 1 }, { a: 1, b: 'x' })).toBe('b: checkpoints null, this run "x"');
  });
});
