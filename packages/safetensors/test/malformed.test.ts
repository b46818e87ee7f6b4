import { readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tensor } from '@blastkit/core';
import { describe, expect, it } from 'vitest';
import { openSafetensors, SafetensorsError, writeSafetensors } from '../src/index.js';
import { safetensorsBytes, tempDir } from './helpers.js';

const f32 = (shape: number[], begin: number, end: number) => ({
  dtype: 'F32',
  shape,
  data_offsets: [begin, end],
});

/** Each case: the file's bytes and the message expected after "<path>: ". */
const corpus: [string, () => Uint8Array, RegExp][] = [
  [
    'a file shorter than the length prefix',
    () => new Uint8Array(5),
    /^file has 5 bytes, too few for the 8-byte header length/,
  ],
  [
    'a header length larger than the file',
    () => safetensorsBytes({ w: f32([1], 0, 4) }, 4, 1000n),
    /^header length 1000 exceeds the 58 bytes after the 8-byte length prefix \(truncated file/,
  ],
  [
    'a header length over the cap',
    () => safetensorsBytes({}, 0, 100_000_001n),
    /^header length 100000001 exceeds the 100 MB cap$/,
  ],
  [
    'a header length of 2^64 - 1',
    () => safetensorsBytes({}, 0, 2n ** 64n - 1n),
    /^header length 18446744073709551615 exceeds the 100 MB cap$/,
  ],
  [
    'a header that is not JSON',
    () => safetensorsBytes('{"w": {"dtype": "F32",'),
    /^header is not valid JSON \(/,
  ],
  [
    'a header that is not UTF-8',
    () => safetensorsBytes(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])),
    /^header is not valid UTF-8/,
  ],
  [
    'a header that is a JSON array',
    () => safetensorsBytes([1, 2]),
    /^header is not a JSON object \(got \[1,2\]\)$/,
  ],
  [
    'metadata that is not an object',
    () => safetensorsBytes({ __metadata__: 'pt' }),
    /^__metadata__ must be an object of strings \(got "pt"\)$/,
  ],
  [
    'metadata values that are not strings',
    () => safetensorsBytes({ __metadata__: { epoch: 3 } }),
    /^__metadata__ entry 'epoch' must be a string \(got 3\)$/,
  ],
  [
    'an entry that is not an object',
    () => safetensorsBytes({ w: 5 }),
    /^tensor 'w': header entry must be an object with dtype, shape and data_offsets/,
  ],
  [
    'an unknown dtype',
    () => safetensorsBytes({ w: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } }, 4),
    /^tensor 'w': dtype 'F8_E4M3' is not supported \(supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL\)$/,
  ],
  [
    'a dtype that is not a string',
    () => safetensorsBytes({ w: { dtype: 4, shape: [1], data_offsets: [0, 4] } }, 4),
    /^tensor 'w': dtype must be a string \(got 4\)$/,
  ],
  [
    'a negative dimension',
    () => safetensorsBytes({ w: f32([2, -1], 0, 0) }),
    /^tensor 'w': shape must be an array of non-negative integers \(got \[2,-1\]\)$/,
  ],
  [
    'a fractional dimension',
    () => safetensorsBytes({ w: f32([1.5], 0, 6) }, 6),
    /^tensor 'w': shape must be an array of non-negative integers \(got \[1\.5\]\)$/,
  ],
  [
    'shape × dtype ≠ byte length',
    () => safetensorsBytes({ w: f32([5, 6], 0, 100) }, 120),
    /^tensor 'w': data_offsets \[0, 100\] hold 100 bytes but F32 \[5,6\] needs 120$/,
  ],
  [
    'F16 shape × dtype ≠ byte length',
    () => safetensorsBytes({ h: { dtype: 'F16', shape: [3], data_offsets: [0, 12] } }, 12),
    /^tensor 'h': data_offsets \[0, 12\] hold 12 bytes but F16 \[3\] needs 6$/,
  ],
  [
    'negative offsets',
    () => safetensorsBytes({ w: f32([2], -8, 0) }, 8),
    /^tensor 'w': data_offsets must be \[begin, end\] with non-negative integers \(got \[-8,0\]\)$/,
  ],
  [
    'three offsets',
    () => safetensorsBytes({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] } }, 8),
    /^tensor 'w': data_offsets must be \[begin, end\]/,
  ],
  [
    'offsets that end before they begin',
    () => safetensorsBytes({ w: f32([0], 8, 4) }, 8),
    /^tensor 'w': data_offsets \[8, 4\] end before they begin$/,
  ],
  [
    'offsets beyond the end',
    () => safetensorsBytes({ a: f32([2], 0, 8), w: f32([250], 8, 1008) }, 800),
    /^tensor 'w': ends at byte 1008 but the data section has 800 bytes \(truncated file\?\)$/,
  ],
  [
    'overlapping tensors',
    () => safetensorsBytes({ b: f32([4], 8, 24), a: f32([4], 0, 16), c: f32([0], 4, 4) }, 24),
    /^tensors 'a' and 'b' overlap \(data_offsets \[0, 16\] and \[8, 24\]\)$/,
  ],
  [
    'a tensor inside another',
    () => safetensorsBytes({ big: f32([8], 0, 32), x: f32([1], 28, 32), small: f32([1], 4, 8) }, 32),
    /^tensors 'big' and 'small' overlap/,
  ],
];

describe('malformed files are rejected with a SafetensorsError naming the file, the tensor and the problem', () => {
  for (const [what, bytes, message] of corpus) {
    it(what, async () => {
      const path = join(await tempDir(), 'model.safetensors');
      await writeFile(path, bytes());
      const err = await openSafetensors(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SafetensorsError);
      const text = (err as SafetensorsError).message;
      expect(text.startsWith(`${path}: `), text).toBe(true);
      expect(text.slice(path.length + 2)).toMatch(message);
    });
  }

  it('a truncated file (data cut short)', async () => {
    const path = join(await tempDir(), 'model.safetensors');
    await writeSafetensors(path, { a: new Tensor([2, 3]), b: new Tensor([4]) });
    const size = (await readFile(path)).length;
    await truncate(path, size - 6);
    await expect(openSafetensors(path)).rejects.toThrow(
      /model\.safetensors: tensor 'b': ends at byte 40 but the data section has 34 bytes \(truncated file\?\)/,
    );
  });

  it('a file truncated after it was opened', async () => {
    const path = join(await tempDir(), 'model.safetensors');
    await writeSafetensors(path, { a: new Tensor([2, 3]), b: new Tensor([4]) });
    const file = await openSafetensors(path);
    try {
      await truncate(path, (await readFile(path)).length - 6);
      await expect(file.readTensor('b')).rejects.toThrow(
        /model\.safetensors: tensor 'b': read 10 of 16 bytes: the file was truncated after it was opened/,
      );
      expect(Array.from((await file.readTensor('a')).data)).toEqual([0, 0, 0, 0, 0, 0]);
    } finally {
      await file.close();
    }
  });

  it('tolerates what the format allows: gaps, trailing bytes, unaligned offsets, empty tensors anywhere', async () => {
    const path = join(await tempDir(), 'model.safetensors');
    const data = new Uint8Array(19);
    new DataView(data.buffer).setFloat32(3, 1.5, true); // an F32 tensor at an odd offset
    new DataView(data.buffer).setFloat64(9, -2.25, true);
    await writeFile(
      path,
      safetensorsBytes(
        { w: f32([1], 3, 7), d: { dtype: 'F64', shape: [1], data_offsets: [9, 17] }, e: f32([0, 3], 5, 5) },
        data,
      ),
    );
    const file = await openSafetensors(path);
    try {
      expect(file.names()).toEqual(['w', 'd', 'e']);
      expect(Array.from((await file.readTensor('w')).data)).toEqual([1.5]);
      expect(Array.from((await file.readTensor('d')).data)).toEqual([-2.25]);
      expect((await file.readTensor('e')).shape).toEqual([0, 3]);
    } finally {
      await file.close();
    }
  });
});
