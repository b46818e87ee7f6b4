import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Tensor } from '@blastkit/core';
import { expect, it } from 'vitest';
import { openSafetensors, writeSafetensors } from '../src/index.js';
import { tempDir } from './helpers.js';

it('reads only the header, then only the requested tensor’s bytes, from a 64 MB file', async () => {
  const path = join(await tempDir(), 'large.safetensors');
  const big = new Tensor([4096, 4096]); // 64 MiB of F32
  big.data[0] = 1;
  big.data[big.size - 1] = 2;
  const small = new Tensor([2, 2], [1, 2, 3, 4]);
  await writeSafetensors(path, { big, small });
  expect((await stat(path)).size).toBeGreaterThan(64 * 2 ** 20);

  const file = await openSafetensors(path);
  try {
    const header = 8 + file.headerLength;
    expect(file.bytesRead).toBe(header);
    // "small" sorts after "big", so it lies at the very end of the file
    expect(file.tensors.get('small')!.dataOffsets).toEqual([64 * 2 ** 20, 64 * 2 ** 20 + 16]);
    const t = await file.readTensor('small');
    expect(t.toArray()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(file.bytesRead).toBe(header + 16);
    const raw = await file.readRaw('small');
    expect(raw.bytes.length).toBe(16);
    expect(file.bytesRead).toBe(header + 32);
  } finally {
    await file.close();
  }
});
