import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tensor } from '@blastkit/core';
import { describe, expect, it } from 'vitest';
import { NpyError, readNpy, writeNpy } from '../src/index.js';
import { fixture, jsonFloats, readFixtureJson, tempDir } from './helpers.js';

interface NpyGolden {
  arrays: Record<string, { descr: string; shape: number[]; values: (number | string)[] }>;
}

/** A fixture's bytes with its header text edited (same length), or cut/extended. */
async function edited(name: string, edit: (bytes: Buffer) => Buffer): Promise<string> {
  const path = join(await tempDir(), name);
  await writeFile(path, edit(await readFile(fixture(name))));
  return path;
}

function replaceText(bytes: Buffer, from: string, to: string): Buffer {
  const at = bytes.indexOf(from, 0, 'latin1');
  if (at < 0) throw new Error(`'${from}' not in the file`);
  const out = Buffer.from(bytes);
  out.write(to, at, 'latin1');
  return out;
}

/** A format 1.0 .npy file with the given header text and `dataBytes` zero bytes of data. */
function npyV1(header: string, dataBytes: number): Buffer {
  const text = `${header}\n`;
  const prefix = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
  prefix.writeUInt16LE(text.length, 8);
  return Buffer.concat([prefix, Buffer.from(text, 'latin1'), Buffer.alloc(dataBytes)]);
}

async function npyError(path: string): Promise<string> {
  const err = await readNpy(path).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(NpyError);
  expect((err as NpyError).name).toBe('NpyError');
  return (err as NpyError).message;
}

describe('readNpy', () => {
  it('reads what numpy.save writes: f4, f8 (to float32), f2, 0-d, format versions 2.0 and 3.0', async () => {
    const golden = await readFixtureJson<NpyGolden>('npy.json');
    expect(Object.keys(golden.arrays).sort()).toEqual([
      'f2.npy',
      'f4.npy',
      'f4_v2.npy',
      'f4_v3.npy',
      'f8.npy',
      'scalar.npy',
    ]);
    for (const [name, want] of Object.entries(golden.arrays)) {
      const t = await readNpy(fixture(name));
      expect(t).toBeInstanceOf(Tensor);
      expect(t.shape, name).toEqual(want.shape);
      expect(Array.from(t.data), name).toEqual(jsonFloats(want.values));
    }
    expect(golden.arrays['f8.npy'].descr).toBe('<f8');
    expect((await readNpy(fixture('f8.npy'))).data[1]).toBe(Number.POSITIVE_INFINITY); // 1e300
  });

  it('rejects Fortran-order arrays', async () => {
    const path = fixture('fortran.npy');
    expect(await npyError(path)).toBe(
      `${path}: Fortran-order arrays are not supported; save with np.ascontiguousarray(arr)`,
    );
  });

  it('rejects truncated data and trailing bytes', async () => {
    const cut = await edited('f4.npy', (b) => b.subarray(0, b.length - 4));
    expect(await npyError(cut)).toMatch(
      /f4\.npy: truncated file: the data has 44 bytes but <f4 \(3, 4\) needs 48$/,
    );
    const long = await edited('f4.npy', (b) => Buffer.concat([b, Buffer.alloc(4)]));
    expect(await npyError(long)).toMatch(
      /the data has 52 bytes but <f4 \(3, 4\) needs 48 \(trailing bytes\)$/,
    );
    const header = await edited('f4.npy', (b) => b.subarray(0, 40));
    expect(await npyError(header)).toMatch(
      /header length 118 runs past the end of the 40-byte file \(truncated file\?\)/,
    );
  });

  it('rejects a wrong magic string and unknown versions', async () => {
    const magic = await edited('f4.npy', (b) => replaceText(b, 'NUMPY', 'NUMPX'));
    expect(await npyError(magic)).toMatch(
      /f4\.npy: not a \.npy file \(it does not start with the magic string "\\x93NUMPY"\)/,
    );
    const tiny = join(await tempDir(), 'tiny.npy');
    await writeFile(tiny, 'abc');
    expect(await npyError(tiny)).toMatch(/not a \.npy file/);
    const v4 = await edited('f4.npy', (b) => {
      const out = Buffer.from(b);
      out[6] = 4;
      return out;
    });
    expect(await npyError(v4)).toMatch(
      /unsupported \.npy format version 4\.0 \(supported: 1\.0, 2\.0, 3\.0\)/,
    );
  });

  it('rejects big-endian, integer and structured dtypes, and malformed headers', async () => {
    const big = await edited('f4.npy', (b) => replaceText(b, "'<f4'", "'>f4'"));
    expect(await npyError(big)).toMatch(
      /big-endian dtype '>f4' is not supported; save with arr\.astype\('<f4'\)/,
    );
    const int = await edited('f4.npy', (b) => replaceText(b, "'<f4'", "'<i4'"));
    expect(await npyError(int)).toMatch(/dtype '<i4' is not supported: only float16, float32 and float64/);
    const structured = join(await tempDir(), 'structured.npy');
    await writeFile(
      structured,
      npyV1("{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, 'shape': (2,), }", 16),
    );
    expect(await npyError(structured)).toMatch(/structured dtypes are not supported/);
    const py2 = join(await tempDir(), 'py2.npy');
    await writeFile(py2, npyV1('{"descr": "<f4", "fortran_order": False, "shape": (2L, 1L)}', 8));
    expect((await readNpy(py2)).shape).toEqual([2, 1]);
    const broken = await edited('f4.npy', (b) => replaceText(b, "'shape': (3, 4)", "'shape': (3; 4)"));
    expect(await npyError(broken)).toMatch(
      /header is not a Python dict literal: expected ',' or '\)' at character/,
    );
    const noShape = await edited('f4.npy', (b) => replaceText(b, "'shape'", "'shapf'"));
    expect(await npyError(noShape)).toMatch(/header has no 'shape' entry/);
  });

  it('reports a missing file as an NpyError', async () => {
    expect(await npyError(join(await tempDir(), 'absent.npy'))).toMatch(/absent\.npy: cannot open: .*ENOENT/);
  });
});

describe('writeNpy', () => {
  it('writes the same bytes as numpy.save', async () => {
    const golden = await readFixtureJson<NpyGolden>('npy.json');
    const dir = await tempDir();
    for (const name of ['f4.npy', 'scalar.npy']) {
      const { shape, values } = golden.arrays[name];
      const path = join(dir, name);
      await writeNpy(path, new Tensor(shape, Float32Array.from(jsonFloats(values))));
      expect((await readFile(path)).equals(await readFile(fixture(name))), name).toBe(true);
    }
  });

  it('round-trips any shape with the data 64-byte aligned', async () => {
    const dir = await tempDir();
    const shapes = [
      [],
      [0],
      [5],
      [1, 2, 3],
      [123456789, 0],
      [2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2],
    ];
    for (const [i, shape] of shapes.entries()) {
      const t = new Tensor(shape);
      for (let j = 0; j < t.size; j++) t.data[j] = j * 0.25 - 1;
      const path = join(dir, `${i}.npy`);
      await writeNpy(path, t);
      const bytes = await readFile(path);
      const dataStart = 10 + bytes.readUInt16LE(8);
      expect(dataStart % 64).toBe(0);
      expect(bytes[dataStart - 1]).toBe(0x0a); // the header ends with '\n'
      const back = await readNpy(path);
      expect(back.shape).toEqual(shape);
      expect(Array.from(back.data)).toEqual(Array.from(t.data));
    }
  });
});
