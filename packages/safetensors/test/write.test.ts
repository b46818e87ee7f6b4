import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, Tensor } from '@blastkit/core';
import { describe, expect, it } from 'vitest';
import { openSafetensors, SafetensorsError, type TensorEntry, writeSafetensors } from '../src/index.js';
import { fixture, jsonFloats, readFixtureJson, tempDir } from './helpers.js';

interface Golden {
  python_half: {
    source: (number | string)[];
    tensors: Record<string, { dtype: 'F32' | 'F16' | 'BF16'; shape: number[]; values: (number | string)[] }>;
  };
  python_written: {
    metadata: Record<string, string>;
    tensors: Record<string, { shape: number[]; values: (number | string)[] }>;
  };
}

/** Deterministic awkward float32 values: normals over many magnitudes, subnormals, signed zeros, limits. */
function awkwardValues(n: number): Float32Array {
  const out = new Float32Array(n);
  let s = 12345;
  const next = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  for (let i = 0; i < n; i++) out[i] = (next() - 0.5) * 2 ** Math.floor(next() * 60 - 30);
  out.set([0, -0, 1e-45, -1e-40, 3.4028234663852886e38, 65504, 65519, 1 / 3, 2 ** -24, 2 ** -25]);
  return out;
}

function ulpAt(y: number, mantissaBits: number, minSubnormal: number): number {
  if (y === 0) return minSubnormal;
  return Math.max(2 ** (Math.floor(Math.log2(Math.abs(y))) - mantissaBits), minSubnormal);
}

describe('writeSafetensors round trips', () => {
  it('F32 is exact, NaN and ±Inf included', async () => {
    const path = join(await tempDir(), 'f32.safetensors');
    const values = awkwardValues(1000);
    values.set([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY], 500);
    const t = new Tensor([10, 100], values);
    await writeSafetensors(path, { w: t, scalar: new Tensor([], [7]) }, { format: 'pt', note: 'é ✓' });
    const file = await openSafetensors(path);
    try {
      expect(file.metadata).toEqual({ format: 'pt', note: 'é ✓' });
      const back = await file.readTensor('w');
      expect(back.shape).toEqual([10, 100]);
      expect(new Uint32Array(back.data.buffer)).toEqual(new Uint32Array(values.buffer));
      expect((await file.readTensor('scalar')).toArray()).toBe(7);
    } finally {
      await file.close();
    }
  });

  it('F16 and BF16 round to nearest even: within half an ulp, and equal to core’s converters', async () => {
    const path = join(await tempDir(), 'half.safetensors');
    const values = awkwardValues(4000);
    const t = new Tensor([4000], values);
    await writeSafetensors(path, { h: { dtype: 'F16', tensor: t }, b: { dtype: 'BF16', tensor: t } });
    const file = await openSafetensors(path);
    try {
      expect(file.tensors.get('h')!.dtype).toBe('F16');
      expect(file.tensors.get('b')!.dtype).toBe('BF16');
      const h = (await file.readTensor('h')).data;
      const b = (await file.readTensor('b')).data;
      for (let i = 0; i < values.length; i++) {
        const x = values[i];
        expect(h[i]).toBe(f16BitsToF32(f32ToF16Bits(x)));
        expect(b[i]).toBe(bf16BitsToF32(f32ToBf16Bits(x)));
        if (Math.abs(x) <= 65504)
          expect(Math.abs(h[i] - x)).toBeLessThanOrEqual(ulpAt(h[i], 10, 2 ** -24) / 2);
        expect(Math.abs(b[i] - x)).toBeLessThanOrEqual(ulpAt(b[i], 7, 2 ** -133) / 2);
      }
    } finally {
      await file.close();
    }
  });

  it('writes an empty file of no tensors', async () => {
    const path = join(await tempDir(), 'empty.safetensors');
    await writeSafetensors(path, {});
    const bytes = await readFile(path);
    expect(bytes.toString('latin1', 8)).toBe('{}      ');
    const file = await openSafetensors(path);
    expect(file.names()).toEqual([]);
    await file.close();
  });
});

describe('writeSafetensors matches the reference library byte for byte', () => {
  it('F32 tensors and metadata: the same bytes as safetensors.numpy.save_file', async () => {
    const golden = await readFixtureJson<Golden>('values.json');
    const tensors: Record<string, Tensor> = {};
    for (const [name, { shape, values }] of Object.entries(golden.python_written.tensors)) {
      tensors[name] = new Tensor(shape, Float32Array.from(jsonFloats(values)));
    }
    const path = join(await tempDir(), 'ours.safetensors');
    await writeSafetensors(path, tensors, golden.python_written.metadata);
    const ours = await readFile(path);
    const theirs = await readFile(fixture('python_written.safetensors'));
    // the reference library serializes its header with serde_json, whose compact output JSON.stringify matches
    // (key order, escapes, raw UTF-8 in names), so whole files compare equal, not just parsed headers
    expect(ours.toString('utf8', 8, 8 + Number(ours.readBigUInt64LE(0)))).toBe(
      theirs.toString('utf8', 8, 8 + Number(theirs.readBigUInt64LE(0))),
    );
    expect(ours.equals(theirs)).toBe(true);
  });

  it('F32, F16 and BF16 together: the same bytes as safetensors.torch.save_file (rounding and layout)', async () => {
    const golden = await readFixtureJson<Golden>('values.json');
    const source = Float32Array.from(jsonFloats(golden.python_half.source));
    const tensors: Record<string, TensorEntry> = {};
    for (const [name, { dtype, shape }] of Object.entries(golden.python_half.tensors)) {
      const n = shape.reduce((a, d) => a * d, 1);
      tensors[name] = { dtype, tensor: new Tensor(shape, source.slice(0, n)) };
    }
    const path = join(await tempDir(), 'ours.safetensors');
    await writeSafetensors(path, tensors, { format: 'pt' });
    expect((await readFile(path)).equals(await readFile(fixture('python_half.safetensors')))).toBe(true);
    const file = await openSafetensors(path);
    try {
      for (const [name, want] of Object.entries(golden.python_half.tensors)) {
        expect(Array.from((await file.readTensor(name)).data)).toEqual(jsonFloats(want.values));
      }
    } finally {
      await file.close();
    }
  });

  it('pads the header with spaces to a multiple of 8 and lays tensors out by dtype, then by name', async () => {
    const dir = await tempDir();
    for (let len = 1; len <= 9; len++) {
      const path = join(dir, `n${len}.safetensors`);
      await writeSafetensors(path, {
        ['x'.repeat(len)]: { dtype: 'F16', tensor: new Tensor([3]) },
        '10': new Tensor([1]),
        '2': new Tensor([1]),
        b: { dtype: 'BF16', tensor: new Tensor([1]) },
      });
      const bytes = await readFile(path);
      const n = Number(bytes.readBigUInt64LE(0));
      expect(n % 8).toBe(0);
      const text = bytes.toString('utf8', 8, 8 + n);
      expect(text).toMatch(/^\{.*\} *$/);
      expect(text.trimEnd().length).toBeGreaterThan(n - 8);
      // F32 first ("10" before "2": byte order, not numeric), then BF16, then F16
      expect(text.indexOf('"10"')).toBeLessThan(text.indexOf('"2"'));
      const file = await openSafetensors(path);
      expect(file.tensors.get('10')!.dataOffsets).toEqual([0, 4]);
      expect(file.tensors.get('2')!.dataOffsets).toEqual([4, 8]);
      expect(file.tensors.get('b')!.dataOffsets).toEqual([8, 10]);
      expect(file.tensors.get('x'.repeat(len))!.dataOffsets).toEqual([10, 16]);
      await file.close();
    }
  });
});

describe('writeSafetensors rejects bad input before touching the disk', () => {
  const cases: [string, Record<string, unknown>, unknown, RegExp][] = [
    [
      'a reserved name',
      { __metadata__: new Tensor([1]) },
      undefined,
      /tensor '__metadata__': the name __metadata__ is reserved/,
    ],
    ['an empty name', { '': new Tensor([1]) }, undefined, /tensor '': tensor names must not be empty/],
    [
      'an unwritable dtype',
      { w: { dtype: 'F64', tensor: new Tensor([1]) } },
      undefined,
      /tensor 'w': cannot write dtype 'F64' \(writable: F32, F16, BF16\)/,
    ],
    ['a non-tensor', { w: [1, 2, 3] }, undefined, /tensor 'w': expected a Tensor or \{ dtype, tensor \}/],
    [
      'a bad shape',
      { w: { shape: [2, -1], data: new Float32Array(2) } },
      undefined,
      /tensor 'w': invalid shape/,
    ],
    [
      'non-string metadata',
      { w: new Tensor([1]) },
      { epoch: 3 },
      /metadata entry 'epoch' must be a string \(got number\)/,
    ],
  ];
  for (const [what, tensors, metadata, message] of cases) {
    it(what, async () => {
      const dir = await tempDir();
      const path = join(dir, 'bad.safetensors');
      const err = await writeSafetensors(
        path,
        tensors as Record<string, TensorEntry>,
        metadata as Record<string, string>,
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SafetensorsError);
      expect((err as Error).message).toMatch(/bad\.safetensors: /);
      expect((err as Error).message).toMatch(message);
      expect(await readdir(dir)).toEqual([]);
    });
  }

  it('data that does not match the shape (found while writing: nothing is left behind)', async () => {
    const dir = await tempDir();
    const path = join(dir, 'bad.safetensors');
    const fake = { shape: [3], data: new Float32Array(2) } as unknown as Tensor;
    await expect(writeSafetensors(path, { w: fake })).rejects.toThrow(
      /bad\.safetensors: tensor 'w': tensor data has 2 elements but shape \[3\] needs 3/,
    );
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('lazy entries (one tensor in memory at a time)', () => {
  it('writes the same bytes as eager entries, loading each tensor only when it is written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'blastkit-lazy-'));
    const a = new Tensor([2, 3], Float32Array.from([1, 2, 3, 4, 5, 6]));
    const b = new Tensor([4], Float32Array.from([0.5, -1, 2, 3]));
    await writeSafetensors(join(dir, 'eager.safetensors'), { a, b: { dtype: 'F16', tensor: b } });
    const loads: string[] = [];
    const record = (name: string, t: Tensor) => {
      loads.push(name);
      return t;
    };
    await writeSafetensors(join(dir, 'lazy.safetensors'), {
      a: { shape: [2, 3], load: async () => record('a', a) },
      b: { dtype: 'F16', shape: [4], load: async () => record('b', b) },
    });
    expect(loads).toEqual(['a', 'b']);
    expect(await readFile(join(dir, 'lazy.safetensors'))).toEqual(
      await readFile(join(dir, 'eager.safetensors')),
    );
    const lying = writeSafetensors(join(dir, 'bad.safetensors'), {
      a: { shape: [3, 2], load: async () => a },
    });
    await expect(lying).rejects.toThrow(SafetensorsError);
    await expect(
      writeSafetensors(join(dir, 'bad.safetensors'), { a: { shape: [3, 2], load: async () => a } }),
    ).rejects.toThrow(/load\(\) returned shape \[2,3\], the header says \[3,2\]/);
    await rm(dir, { recursive: true, force: true });
  });
});
