import { BlastMatrix, Rng } from '@blastkit/core';
import { describe, expect, it } from 'vitest';
import { blastFast, factorizeMany, MemoryCheckpointStore } from '../src/index.js';

const targets = ['a', 'b', 'c'].map((name, i) => ({
  name,
  load: async () => BlastMatrix.random(48, 32, 4, 6, new Rng(50 + i)).toDense(),
}));
const solve = async (A: import('@blastkit/core').Tensor, ctx: { seed: number; signal?: AbortSignal }) =>
  blastFast(A, { numBlocks: 4, rank: 8, steps: 30, seed: ctx.seed, signal: ctx.signal });

describe('factorizeMany with checkpoints', () => {
  it('an interrupted then resumed run gives exactly the factors of an uninterrupted run', async () => {
    const full = await factorizeMany(targets, solve, { store: new MemoryCheckpointStore(), seed: 9 });

    const store = new MemoryCheckpointStore();
    const controller = new AbortController();
    await expect(
      factorizeMany(targets, solve, {
        store,
        seed: 9,
        signal: controller.signal,
        onMatrix: (e) => {
          if (e.index === 0) controller.abort(new Error('interrupted'));
        },
      }),
    ).rejects.toThrow('interrupted');
    expect([...store.entries.keys()]).toEqual(['a']);

    const events: boolean[] = [];
    const resumed = await factorizeMany(targets, solve, {
      store,
      seed: 9,
      onMatrix: (e) => events.push(e.resumed),
    });
    expect(events).toEqual([true, false, false]);
    for (const { name } of targets) {
      expect(resumed.get(name)?.toDense().data).toEqual(full.get(name)?.toDense().data);
    }
  });

  it('rejects duplicate names', async () => {
    await expect(
      factorizeMany([targets[0], targets[0]], solve, { store: new MemoryCheckpointStore() }),
    ).rejects.toThrow(/appears twice/);
  });
});
