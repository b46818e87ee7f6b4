import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

/** Path of a committed fixture file (written by fixtures/make_fixtures.py). */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
}

export async function readFixtureJson<T>(name: string): Promise<T> {
  return JSON.parse(await readFile(fixture(name), 'utf8')) as T;
}

/** JSON numbers, with non-finite values as the strings "inf", "-inf", "nan", to numbers. */
export function jsonFloats(values: readonly (number | string)[]): number[] {
  return values.map((v) =>
    v === 'inf'
      ? Number.POSITIVE_INFINITY
      : v === '-inf'
        ? Number.NEGATIVE_INFINITY
        : v === 'nan'
          ? Number.NaN
          : (v as number),
  );
}

let made: string[] = [];
afterEach(async () => {
  const dirs = made;
  made = [];
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A new empty directory under the OS temp dir, removed after the current test. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'blastkit-safetensors-'));
  made.push(dir);
  return dir;
}

/**
 * The bytes of a safetensors file: the 8-byte little-endian header length (or `declaredLength`), the header
 * (an object to JSON-encode, a string, or raw bytes), then `data` (bytes, or a count of zero bytes).
 */
export function safetensorsBytes(
  header: unknown,
  data: Uint8Array | number = 0,
  declaredLength?: bigint,
): Uint8Array {
  const json =
    header instanceof Uint8Array
      ? header
      : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}
