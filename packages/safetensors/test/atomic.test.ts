import { readdirSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tensor } from '@blastkit/core';
import { describe, expect, it } from 'vitest';
import {
  NpyError,
  openSafetensors,
  SafetensorsError,
  writeFileAtomic,
  writeNpy,
  writeSafetensors,
} from '../src/index.js';
import { tempDir } from './helpers.js';

/** A tensor whose data getter runs `onRead` (which should throw), like a lazily computed tensor failing. */
function failingTensor(shape: number[], onRead: () => never): Tensor {
  const t = new Tensor(shape);
  Object.defineProperty(t, 'data', { get: onRead });
  return t;
}

const TEMP = /\.tmp-\d+-[0-9a-f]{12}$/;

describe('atomic writes', () => {
  it('fails clearly for a directory that does not exist, creating nothing', async () => {
    const dir = await tempDir();
    const path = join(dir, 'missing', 'model.safetensors');
    const err = await writeSafetensors(path, { w: new Tensor([2]) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as Error).message).toBe(
      `${path}: cannot write: the directory ${join(dir, 'missing')} does not exist`,
    );
    expect(await readdir(dir)).toEqual([]);
    await expect(writeNpy(join(dir, 'missing', 'a.npy'), new Tensor([2]))).rejects.toThrow(
      /a\.npy: cannot write: the directory .*missing does not exist/,
    );
  });

  it('an interrupted write leaves the previous file intact and no temporary file', async () => {
    const dir = await tempDir();
    const path = join(dir, 'model.safetensors');
    await writeSafetensors(path, { w: new Tensor([3], [1, 2, 3]) }, { version: '1' });
    const before = await readFile(path);

    let seenDuringWrite: string[] = [];
    const bad = failingTensor([4], () => {
      seenDuringWrite = readdirSync(dir);
      throw new Error('boom');
    });
    // 'a' (4 MiB) sorts first and is on disk before 'bad' fails
    const err = await writeSafetensors(path, { a: new Tensor([1 << 20]), bad }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as Error).message).toMatch(
      /model\.safetensors: tensor 'bad': cannot read the tensor's data \(boom\); the write was abandoned/,
    );
    expect(((err as Error).cause as Error).message).toBe('boom');
    expect(seenDuringWrite).toHaveLength(2); // the temporary file existed next to the target
    expect(seenDuringWrite.find((f) => f !== 'model.safetensors')).toMatch(TEMP);

    expect(await readdir(dir)).toEqual(['model.safetensors']);
    expect((await readFile(path)).equals(before)).toBe(true);
    const file = await openSafetensors(path);
    expect(file.metadata).toEqual({ version: '1' });
    expect(Array.from((await file.readTensor('w')).data)).toEqual([1, 2, 3]);
    await file.close();
  });

  it('an interrupted .npy write leaves the previous file intact and no temporary file', async () => {
    const dir = await tempDir();
    const path = join(dir, 'a.npy');
    await writeNpy(path, new Tensor([2], [5, 6]));
    const before = await readFile(path);
    const err = await writeNpy(
      path,
      failingTensor([2], () => {
        throw new Error('boom');
      }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NpyError);
    expect((err as Error).message).toMatch(/a\.npy: cannot read the tensor's data \(boom\)/);
    expect(await readdir(dir)).toEqual(['a.npy']);
    expect((await readFile(path)).equals(before)).toBe(true);
  });

  it('replaces an existing file, and concurrent writers never mix their bytes', async () => {
    const dir = await tempDir();
    const path = join(dir, 'model.safetensors');
    await writeSafetensors(path, { w: new Tensor([1], [0]) });
    await Promise.all([1, 2, 3, 4].map((v) => writeSafetensors(path, { w: Tensor.filled([256 * 1024], v) })));
    expect(await readdir(dir)).toEqual(['model.safetensors']);
    const file = await openSafetensors(path);
    const data = (await file.readTensor('w')).data;
    await file.close();
    expect(data.length).toBe(256 * 1024);
    expect(data.every((x) => x === data[0]) && [1, 2, 3, 4].includes(data[0])).toBe(true);
  });

  it('cleans up when the final rename fails (the target is a directory)', async () => {
    const dir = await tempDir();
    const path = join(dir, 'target');
    await mkdir(path);
    await writeFile(join(path, 'keep'), 'x');
    const err = await writeFileAtomic(
      path,
      async (sink) => {
        await sink.write(new Uint8Array([1, 2, 3]));
      },
      (problem, cause) => new Error(problem, { cause }),
    ).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /^cannot commit the write \(fsync\/rename of .*\.tmp-\d+-[0-9a-f]{12}\)/,
    );
    expect(await readdir(dir)).toEqual(['target']);
    expect(await readdir(path)).toEqual(['keep']);
  });

  it('writes large and small pieces in order through its buffer', async () => {
    const dir = await tempDir();
    const path = join(dir, 'bytes.bin');
    const pieces = [3, 1 << 20, 5, (1 << 20) - 10, 2 << 20, 7].map((n, i) => new Uint8Array(n).fill(i + 1));
    await writeFileAtomic(
      path,
      async (sink) => {
        for (const p of pieces) await sink.write(p);
      },
      (problem) => new Error(problem),
    );
    const expected = Buffer.concat(pieces);
    expect((await readFile(path)).equals(expected)).toBe(true);
  });
});
