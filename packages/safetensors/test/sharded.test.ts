import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '@blastkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShardedSafetensors, writeSafetensors } from '../src/index.js';

let dir: string;
const a = new Tensor([2, 3], Float32Array.from([1, 2, 3, 4, 5, 6]));
const b = new Tensor([4], Float32Array.from([7, 8, 9, 10]));
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-shards-'));
  await writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), { a });
  await writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), { b, c: b });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function index(name: string, weightMap: unknown) {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify({ metadata: { total_size: 40 }, weight_map: weightMap }));
  return path;
}

describe('ShardedSafetensors', () => {
  it('reads every tensor of every shard through the index', async () => {
    const path = await index('model.safetensors.index.json', {
      a: 'model-00001-of-00002.safetensors',
      b: 'model-00002-of-00002.safetensors',
      c: 'model-00002-of-00002.safetensors',
    });
    const set = await ShardedSafetensors.open(path);
    expect(set.names().sort()).toEqual(['a', 'b', 'c']);
    expect(set.info('a').shape).toEqual([2, 3]);
    expect((await set.readTensor('b')).data).toEqual(b.data);
    expect(set.metadata).toEqual({ total_size: '40' });
    await expect(set.readTensor('zzz')).rejects.toThrow(/no tensor named 'zzz' in any shard/);
    await set.close();
  });

  it('refuses an index that lies about where a tensor is, or points outside the folder', async () => {
    const lying = await index('lying.json', { a: 'model-00002-of-00002.safetensors' });
    await expect(ShardedSafetensors.open(lying)).rejects.toThrow(
      /puts 'a' in model-00002-of-00002.safetensors, which does not hold it/,
    );
    const escaping = await index('escaping.json', { a: '../../etc/passwd' });
    await expect(ShardedSafetensors.open(escaping)).rejects.toThrow(
      /must name a shard file in the same folder/,
    );
    const missing = await index('missing.json', { a: 'nope.safetensors' });
    await expect(ShardedSafetensors.open(missing)).rejects.toThrow(/nope\.safetensors/);
    await writeFile(join(dir, 'broken.json'), '{"weight_map": 3}');
    await expect(ShardedSafetensors.open(join(dir, 'broken.json'))).rejects.toThrow(/no "weight_map" object/);
  });
});
