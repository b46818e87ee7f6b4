// Property-based tests of every reader in this package: from valid files, mutated bytes and generated headers,
// each either reads or throws this package's typed error naming the file — never a TypeError, RangeError or
// SyntaxError, never a hang, never a leaked file handle. Seeded (see fuzz-harness.ts): failures reproduce.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '@blastkit/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NpyError,
  openSafetensors,
  readNpy,
  SafetensorsError,
  ShardedSafetensors,
  writeNpy,
  writeSafetensors,
} from '../src/index.js';
import { readAt } from '../src/read-exactly.js';
import {
  expectFileError,
  FUZZ_PARAMS,
  FUZZ_RUNS,
  mutate,
  mutationsArb,
  openFileCount,
} from './fuzz-harness.js';
import { safetensorsBytes } from './helpers.js';

let dir: string;
let validSafetensors: Uint8Array;
let validNpy: Uint8Array;
let counter = 0;
/** A fresh path per case: a failing case's file stays readable until the suite ends. */
const casePath = (ext: string) => join(dir, `case-${counter++}${ext}`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-fuzz-'));
  const path = join(dir, 'valid.safetensors');
  await writeSafetensors(
    path,
    {
      w: new Tensor(
        [3, 4],
        Float32Array.from({ length: 12 }, (_, i) => i / 4),
      ),
      h: { dtype: 'F16', tensor: new Tensor([5], Float32Array.of(1, -2, 0.5, 3, 4)) },
      empty: new Tensor([0, 2], new Float32Array(0)),
      b: { dtype: 'BF16', tensor: new Tensor([2, 1], Float32Array.of(1.5, -8)) },
    },
    { format: 'pt', note: 'fuzz' },
  );
  validSafetensors = new Uint8Array(await import('node:fs/promises').then((fs) => fs.readFile(path)));
  const npy = join(dir, 'valid.npy');
  await writeNpy(
    npy,
    new Tensor(
      [3, 5],
      Float32Array.from({ length: 15 }, (_, i) => i - 7),
    ),
  );
  validNpy = new Uint8Array(await import('node:fs/promises').then((fs) => fs.readFile(npy)));
});
// thousands of case folders: removing them takes seconds on a loaded machine (the 10 s default hook timeout
// failed a CI run)
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
}, 120_000);

/** Opens and reads every tensor of a safetensors file; throws whatever the reader throws. */
async function readAllSafetensors(path: string): Promise<void> {
  const file = await openSafetensors(path);
  try {
    for (const name of file.names()) {
      const t = await file.readTensor(name);
      expect(t.shape).toEqual([...file.info(name).shape]);
    }
  } finally {
    await file.close();
  }
}

/** Runs `read` on one generated file: it succeeds, or fails with a typed error naming `files`. */
async function expectReadsOrNamesFile(
  read: () => Promise<void>,
  types: readonly (abstract new (...args: never[]) => Error)[],
  files: readonly string[],
): Promise<'ok' | 'rejected'> {
  try {
    await read();
    return 'ok';
  } catch (err) {
    expectFileError(err, types, files);
    return 'rejected';
  }
}

/** Checks that a whole property run left no file descriptor open. */
async function withoutLeaks(run: () => Promise<void>): Promise<void> {
  const before = openFileCount();
  await run();
  expect(openFileCount()).toBe(before);
}

const dtypeArb = fc.oneof(
  fc.constantFrom('F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL', 'U64', 'F8_E4M3'),
  fc.string({ maxLength: 6 }),
  fc.jsonValue({ maxDepth: 1 }),
);
const dimArb = fc.oneof(
  fc.integer({ min: 0, max: 6 }),
  fc.constantFrom(-1, 2 ** 31, 2 ** 53, 2 ** 64, 1.5, Number.MAX_SAFE_INTEGER),
  fc.jsonValue({ maxDepth: 0 }),
);
const offsetArb = fc.oneof(
  fc.integer({ min: 0, max: 200 }),
  fc.constantFrom(-4, 2 ** 32, 2 ** 53, 1e300, 0.5),
  fc.jsonValue({ maxDepth: 0 }),
);
const entryArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      dtype: dtypeArb,
      shape: fc.array(dimArb, { maxLength: 4 }),
      data_offsets: fc.array(offsetArb, { minLength: 1, maxLength: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);
const headerArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.dictionary(
      fc.oneof(fc.constantFrom('__metadata__', 'w', '__proto__', ''), fc.string({ maxLength: 8 })),
      entryArb,
      { maxKeys: 4 },
    ),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

describe(`safetensors reader fuzz (${FUZZ_RUNS} cases per property)`, () => {
  it('mutated bytes of a valid file: read, or a SafetensorsError naming the file', async () => {
    let rejected = 0;
    await withoutLeaks(() =>
      fc.assert(
        fc.asyncProperty(fc.oneof(mutationsArb(), mutationsArb(160)), async (mutations) => {
          const path = casePath('.safetensors');
          await writeFile(path, mutate(validSafetensors, mutations));
          if (
            (await expectReadsOrNamesFile(() => readAllSafetensors(path), [SafetensorsError], [path])) ===
            'rejected'
          )
            rejected++;
        }),
        FUZZ_PARAMS,
      ),
    );
    expect(rejected).toBeGreaterThan(FUZZ_RUNS / 2);
  });

  it('generated headers (dtypes, shapes, offsets, metadata, lengths): a SafetensorsError naming the file', async () => {
    await withoutLeaks(() =>
      fc.assert(
        fc.asyncProperty(
          headerArb,
          fc.integer({ min: 0, max: 256 }),
          fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { freq: 5 }),
          async (header, dataBytes, declared) => {
            const path = casePath('.safetensors');
            await writeFile(path, safetensorsBytes(header, dataBytes, declared ?? undefined));
            await expectReadsOrNamesFile(() => readAllSafetensors(path), [SafetensorsError], [path]);
          },
        ),
        FUZZ_PARAMS,
      ),
    );
  });
});

/** The Python dict literal of a .npy header, from generated parts. */
const npyHeaderArb = fc
  .record({
    descr: fc.oneof(
      fc.constantFrom(
        "'<f4'",
        "'<f8'",
        "'<f2'",
        "'>f4'",
        "'|u1'",
        "'=f4'",
        "'<i4'",
        "[('a', '<f4')]",
        "'<F4'",
      ),
      fc.string({ maxLength: 8 }).map((s) => `'${s}'`),
    ),
    fortran: fc.constantFrom('False', 'True', 'None', '0', "'no'"),
    shape: fc.oneof(
      fc
        .array(fc.integer({ min: 0, max: 6 }), { maxLength: 3 })
        .map((d) => (d.length === 1 ? `(${d[0]},)` : `(${d.join(', ')})`)),
      fc.constantFrom(
        '(-1, 3)',
        '(99999999999999999999,)',
        '(3, 5)',
        '[3, 5]',
        '5',
        '(3, 5',
        "('a',)",
        '((((((((((((((((((((((((((((((((((1,))))))))))))))))))))))))))))))))))',
      ),
      fc.string({ maxLength: 12 }),
    ),
    extra: fc.constantFrom('', "'x': 1, ", "'__proto__': {'descr': '<f4'}, ", "'descr': '<f8', "),
    tail: fc.constantFrom(', }', '}', ', } ', '', ', }\n', "'"),
    version: fc.constantFrom(1, 2, 3, 1, 1, 4),
  })
  .map(({ descr, fortran, shape, extra, tail, version }) => {
    const text = `{${extra}'descr': ${descr}, 'fortran_order': ${fortran}, 'shape': ${shape}${tail}`;
    return { text, version, exact: undefined as number | undefined };
  });
/** Headers numpy could have written, with the data length they need: the reader must read these. */
const validNpyHeaderArb = fc
  .record({
    size: fc.constantFrom(2, 4, 8),
    dims: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }),
    version: fc.constantFrom(1, 2, 3),
  })
  .map(({ size, dims, version }) => ({
    text: `{'descr': '<f${size}', 'fortran_order': False, 'shape': ${dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`}, }`,
    version,
    exact: size * dims.reduce((a, d) => a * d, 1),
  }));

function npyBytes(text: string, version: number, dataBytes: number, declared?: number): Uint8Array {
  const header = Buffer.from(text, 'latin1');
  const lengthBytes = version === 1 ? 2 : 4;
  const out = new Uint8Array(8 + lengthBytes + header.length + dataBytes);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const view = new DataView(out.buffer);
  const length = declared ?? header.length;
  if (lengthBytes === 2) view.setUint16(8, length & 0xffff, true);
  else view.setUint32(8, length >>> 0, true);
  out.set(header, 8 + lengthBytes);
  return out;
}

describe(`.npy reader fuzz (${FUZZ_RUNS} cases per property)`, () => {
  it('mutated bytes of a valid file: read, or an NpyError naming the file', async () => {
    await withoutLeaks(() =>
      fc.assert(
        fc.asyncProperty(fc.oneof(mutationsArb(), mutationsArb(128)), async (mutations) => {
          const path = casePath('.npy');
          await writeFile(path, mutate(validNpy, mutations));
          await expectReadsOrNamesFile(async () => void (await readNpy(path)), [NpyError], [path]);
        }),
        FUZZ_PARAMS,
      ),
    );
  });

  it('generated headers (dtypes, orders, shapes, versions, lengths): read, or an NpyError naming the file', async () => {
    let read = 0;
    await withoutLeaks(() =>
      fc.assert(
        fc.asyncProperty(
          fc.oneof({ weight: 3, arbitrary: npyHeaderArb }, { weight: 1, arbitrary: validNpyHeaderArb }),
          fc.integer({ min: 0, max: 240 }),
          fc.option(fc.nat({ max: 70_000 }), { freq: 4 }),
          async ({ text, version, exact }, dataBytes, declared) => {
            const path = casePath('.npy');
            const bytes =
              exact === undefined
                ? npyBytes(text, version, dataBytes, declared ?? undefined)
                : npyBytes(text, version, exact);
            await writeFile(path, bytes);
            const outcome = await expectReadsOrNamesFile(
              async () => void (await readNpy(path)),
              [NpyError],
              [path],
            );
            if (outcome === 'ok') read++;
            else expect(exact, 'a valid header was refused').toBeUndefined();
          },
        ),
        FUZZ_PARAMS,
      ),
    );
    // the generator reaches valid files too, not only errors
    expect(read).toBeGreaterThan(0);
  });

  it('a header nested deeper than numpy writes is refused by name, not by a stack overflow', async () => {
    const path = casePath('.npy');
    const deep = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
    await writeFile(path, npyBytes(`{'descr': '<f4', 'fortran_order': False, 'shape': ${deep}}`, 2, 0));
    await expect(readNpy(path)).rejects.toThrow(/nesting deeper than 32/);
  });
});

describe(`model.safetensors.index.json fuzz (${FUZZ_RUNS} cases)`, () => {
  const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  beforeAll(async () => {
    await writeSafetensors(join(dir, shards[0]), { a: new Tensor([2], Float32Array.of(1, 2)) });
    await writeSafetensors(join(dir, shards[1]), {
      b: new Tensor([1], Float32Array.of(3)),
      c: new Tensor([1], Float32Array.of(4)),
    });
    await writeFile(join(dir, 'garbage.safetensors'), 'not a safetensors file');
  });

  const shardNameArb = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...shards) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        'missing.safetensors',
        'garbage.safetensors',
        '../x.safetensors',
        '/etc/passwd',
        '',
        '.',
        'a\0b',
        'sub/../model-00001-of-00002.safetensors',
      ),
    },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
  );
  const indexArb = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record(
        {
          metadata: fc.oneof(
            fc.record({ total_size: fc.jsonValue({ maxDepth: 1 }) }),
            fc.jsonValue({ maxDepth: 2 }),
          ),
          weight_map: fc.oneof(
            {
              weight: 5,
              arbitrary: fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd', '__proto__', ''), shardNameArb, {
                maxKeys: 5,
              }),
            },
            { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
          ),
        },
        { requiredKeys: [] },
      ),
    },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  );

  it('generated indexes: read every tensor, or a SafetensorsError naming the index or a shard', async () => {
    let opened = 0;
    await withoutLeaks(() =>
      fc.assert(
        fc.asyncProperty(
          indexArb,
          fc.option(fc.string({ maxLength: 4 }), { freq: 10 }),
          async (index, cut) => {
            const path = casePath('.index.json');
            const text = JSON.stringify(index) ?? 'undefined';
            // sometimes not JSON at all: a cut-off or padded text
            await writeFile(path, cut === null ? text : text.slice(0, Math.floor(text.length / 2)) + cut);
            const outcome = await expectReadsOrNamesFile(
              async () => {
                const set = await ShardedSafetensors.open(path);
                try {
                  for (const name of set.names()) await set.readTensor(name);
                } finally {
                  await set.close();
                }
              },
              [SafetensorsError],
              [
                path,
                join(dir, 'garbage.safetensors'),
                join(dir, 'missing.safetensors'),
                dir,
                join(dir, 'a\0b'),
              ],
            );
            if (outcome === 'ok') opened++;
          },
        ),
        FUZZ_PARAMS,
      ),
    );
    expect(opened).toBeGreaterThan(0);
  });
});

describe('readAt', () => {
  it('reads in chunks of the size given (tensors of 2 GiB or more need several reads)', async () => {
    const path = casePath('.bin');
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);
    await writeFile(path, bytes);
    const { open } = await import('node:fs/promises');
    const handle = await open(path, 'r');
    const asked: number[] = [];
    const read = handle.read.bind(handle);
    const spy = Object.assign(Object.create(handle), {
      read: (buf: Uint8Array, off: number, len: number, pos: number) => {
        asked.push(len);
        return read(buf, off, len, pos);
      },
    });
    try {
      expect(await readAt(spy, 10, 900, 128)).toEqual(bytes.subarray(10, 910));
      expect(Math.max(...asked)).toBe(128);
      expect(asked.length).toBe(Math.ceil(900 / 128));
      // past the end: what there is
      expect((await readAt(spy, 950, 100, 16)).length).toBe(50);
    } finally {
      await handle.close();
    }
  });
});
