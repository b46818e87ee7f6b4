import { Tensor } from '@blastkit/core';
import { describe, expect, it } from 'vitest';
import { openSafetensors, SafetensorsError, SafetensorsFile, writeSafetensors } from '../src/index.js';
import { fixture, jsonFloats, readFixtureJson, tempDir } from './helpers.js';

interface Golden {
  mixed: {
    metadata: Record<string, string>;
    tensors: Record<string, { dtype: string; shape: number[]; values: (number | string)[] }>;
  };
  python_written: {
    metadata: Record<string, string>;
    tensors: Record<string, { shape: number[]; values: (number | string)[] }>;
  };
}

describe('reading files written by the Python safetensors library', () => {
  it('reads every dtype of mixed.safetensors to the float32 values torch gives', async () => {
    const golden = await readFixtureJson<Golden>('values.json');
    const file = await openSafetensors(fixture('mixed.safetensors'));
    try {
      expect(file).toBeInstanceOf(SafetensorsFile);
      expect(file.metadata).toEqual(golden.mixed.metadata);
      expect(new Set(file.names())).toEqual(new Set(Object.keys(golden.mixed.tensors)));
      expect([...new Set(Object.values(golden.mixed.tensors).map((t) => t.dtype))].sort()).toEqual([
        'BF16',
        'BOOL',
        'F16',
        'F32',
        'F64',
        'I16',
        'I32',
        'I64',
        'I8',
        'U8',
      ]);
      for (const [name, want] of Object.entries(golden.mixed.tensors)) {
        const info = file.tensors.get(name)!;
        expect(info.dtype, name).toBe(want.dtype);
        expect(info.shape, name).toEqual(want.shape);
        const t = await file.readTensor(name);
        expect(t).toBeInstanceOf(Tensor);
        expect(t.shape, name).toEqual(want.shape);
        // exact, -0 and +0 told apart
        expect(Array.from(t.data), name).toEqual(jsonFloats(want.values));
      }
    } finally {
      await file.close();
    }
  });

  it('keeps header order, which the reference library sets by dtype then name', async () => {
    const file = await openSafetensors(fixture('mixed.safetensors'));
    try {
      const offsets = file.names().map((n) => file.tensors.get(n)!.dataOffsets[0]);
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
      expect(file.names()[0]).toBe('i64');
      expect(file.names().at(-1)).toBe('bool');
    } finally {
      await file.close();
    }
  });

  it('reads raw bytes as stored', async () => {
    const file = await openSafetensors(fixture('mixed.safetensors'));
    try {
      const u8 = await file.readRaw('u8');
      expect(u8).toEqual({ dtype: 'U8', shape: [3], bytes: new Uint8Array([0, 255, 7]) });
      const f16 = await file.readRaw('f16');
      expect(f16.dtype).toBe('F16');
      expect(f16.bytes.length).toBe(12);
      expect(new DataView(f16.bytes.buffer, f16.bytes.byteOffset).getUint16(2, true)).toBe(0x7bff); // 65504
      const empty = await file.readTensor('empty');
      expect(empty.shape).toEqual([0, 4]);
      expect(empty.size).toBe(0);
      const scalar = await file.readTensor('scalar');
      expect(scalar.shape).toEqual([]);
      expect(scalar.toArray()).toBe(42.5);
    } finally {
      await file.close();
    }
  });

  it('reads python_written.safetensors', async () => {
    const golden = await readFixtureJson<Golden>('values.json');
    const file = await openSafetensors(fixture('python_written.safetensors'));
    try {
      expect(file.metadata).toEqual({ format: 'np' });
      expect(file.headerLength % 8).toBe(0);
      for (const [name, want] of Object.entries(golden.python_written.tensors)) {
        const t = await file.readTensor(name);
        expect(t.shape).toEqual(want.shape);
        expect(Array.from(t.data)).toEqual(jsonFloats(want.values));
      }
    } finally {
      await file.close();
    }
  });

  it('names a few available tensors when one is missing, and refuses reads after close', async () => {
    const dir = await tempDir();
    const path = `${dir}/many.safetensors`;
    const tensors: Record<string, Tensor> = {};
    for (let i = 0; i < 8; i++) tensors[`t${i}`] = Tensor.filled([2], i);
    await writeSafetensors(path, tensors);
    const file = await openSafetensors(path);
    await expect(file.readTensor('t9')).rejects.toThrow(
      /many\.safetensors: no tensor named 't9' \(available: 't0', 't1', 't2', 't3', 't4', … \(3 more\)\)/,
    );
    await expect(file.readTensor('t9')).rejects.toBeInstanceOf(SafetensorsError);
    expect(Array.from((await file.readTensor('t3')).data)).toEqual([3, 3]);
    await file.close();
    await file.close(); // harmless
    await expect(file.readTensor('t3')).rejects.toThrow(/many\.safetensors: tensor 't3': file is closed/);
  });

  it('reports a missing file as a SafetensorsError', async () => {
    const dir = await tempDir();
    const err = await openSafetensors(`${dir}/absent.safetensors`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as SafetensorsError).message).toMatch(/absent\.safetensors: cannot open: .*ENOENT/);
    expect((err as SafetensorsError).name).toBe('SafetensorsError');
  });
});
