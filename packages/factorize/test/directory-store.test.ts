import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlastMatrix, Rng } from '@blastkit/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blastFast, factorizeMany } from '../src/index.js';
import { DirectoryCheckpointStore } from '../src/node/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-ckpt-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const targets = ['model.layers.0.mlp.up_proj', 'model.layers.1.self_attn/q'].map((name, i) => ({
  name,
  load: async () => BlastMatrix.random(32, 24, 4, 4, new Rng(70 + i)).toDense(),
}));
const solve = (A: import('@blastkit/core').Tensor, ctx: { seed: number; signal?: AbortSignal }) =>
  blastFast(A, { numBlocks: 4, rank: 6, steps: 20, seed: ctx.seed, signal: ctx.signal });

describe('DirectoryCheckpointStore', () => {
  it('round-trips entries through safetensors files named after the matrices', async () => {
    const store = await DirectoryCheckpointStore.open(join(dir, 'nested', 'ckpt'));
    const matrix = BlastMatrix.random(8, 8, 2, 3, new Rng(1));
    expect(await store.has('a/b')).toBe(false);
    await store.save('a/b', {
      kind: 'blast',
      tensors: matrix.toNamedTensors(),
      info: { relativeError: 0.25, seconds: 1.5, seed: 4 },
    });
    expect(await store.has('a/b')).toBe(true);
    expect(await store.names()).toEqual(['a/b']);
    const entry = await store.load('a/b');
    expect(entry.kind).toBe('blast');
    expect(entry.info).toEqual({ relativeError: 0.25, seconds: 1.5, seed: 4 });
    expect(entry.tensors.D.data).toEqual(matrix.D.data);
  });

  it('a run interrupted after one matrix resumes from disk and gives the uninterrupted factors', async () => {
    const full = await factorizeMany(targets, solve, {
      store: await DirectoryCheckpointStore.open(join(dir, 'full')),
      seed: 3,
    });
    const store = await DirectoryCheckpointStore.open(join(dir, 'resumed'));
    const controller = new AbortController();
    await expect(
      factorizeMany(targets, solve, {
        store,
        seed: 3,
        signal: controller.signal,
        onMatrix: () => controller.abort(new Error('interrupted')),
      }),
    ).rejects.toThrow('interrupted');
    expect(await store.names()).toEqual([targets[0].name]);
    const resumedFlags: boolean[] = [];
    // a fresh store object over the same directory, as a new process would open it
    const resumed = await factorizeMany(targets, solve, {
      store: await DirectoryCheckpointStore.open(join(dir, 'resumed')),
      seed: 3,
      onMatrix: (e) => resumedFlags.push(e.resumed),
    });
    expect(resumedFlags).toEqual([true, false]);
    for (const t of targets)
      expect(resumed.get(t.name)?.toDense().data).toEqual(full.get(t.name)?.toDense().data);
    // nothing but whole entries: no temp files left behind
    expect((await readdir(join(dir, 'resumed'))).every((f) => f.endsWith('.safetensors'))).toBe(true);
  });

  it('refuses a file that is not a blastkit checkpoint, naming it', async () => {
    const store = await DirectoryCheckpointStore.open(dir);
    await writeFile(join(dir, 'x.safetensors'), Buffer.from([2, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d]));
    await expect(store.load('x')).rejects.toThrow(/x\.safetensors: is not a blastkit checkpoint/);
  });
});
