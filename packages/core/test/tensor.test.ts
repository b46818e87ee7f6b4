import { describe, expect, it } from 'vitest';
import {
  bf16ArrayToF32,
  bf16BitsToF32,
  f16ArrayToF32,
  f16BitsToF32,
  f32ArrayToBf16,
  f32ArrayToF16,
  f32ToBf16Bits,
  f32ToF16Bits,
  Rng,
  ShapeError,
  Tensor,
} from '../src/index.js';

describe('Tensor', () => {
  it('checks data length against the shape', () => {
    expect(() => new Tensor([2, 3], [1, 2, 3])).toThrow(/3 elements, shape \[2,3\] needs 6/);
  });
  it('reshapes with one inferred axis and shares data', () => {
    const t = new Tensor([2, 6]);
    const r = t.reshape([3, -1]);
    expect(r.shape).toEqual([3, 4]);
    r.data[0] = 5;
    expect(t.data[0]).toBe(5);
    expect(() => t.reshape([5, -1])).toThrow(ShapeError);
  });
  it('indexes row-major and rejects out-of-range indices', () => {
    const t = Tensor.fromRows([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.get(1, 2)).toBe(6);
    expect(() => t.get(2, 0)).toThrow(/out of range/);
    expect(t.toArray()).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
  });
});

describe('f16 and bf16 conversion', () => {
  it('matches known bit patterns (values checked with numpy.float16 / torch.bfloat16)', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65520, 0x7c00], // rounds up to Inf
      [6.103515625e-5, 0x0400], // smallest normal
      [5.960464477539063e-8, 0x0001], // smallest subnormal
      [2.9802322387695312e-8, 0x0000], // half of it: tie → even (0)
      [1.0009765625, 0x3c01],
      [1.00048828125, 0x3c00], // tie between 0x3c00 and 0x3c01 → even
      [Number.POSITIVE_INFINITY, 0x7c00],
    ];
    for (const [v, bits] of cases) expect(f32ToF16Bits(v), `f16(${v})`).toBe(bits);
    expect(f16BitsToF32(0x7bff)).toBe(65504);
    expect(f16BitsToF32(0x0001)).toBe(5.960464477539063e-8);
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(Number.NaN)))).toBe(true);
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(3.140625)).toBe(0x4049);
    expect(f32ToBf16Bits(1.00390625)).toBe(0x3f80); // tie → even
    expect(f32ToBf16Bits(1.01171875)).toBe(0x3f82); // tie → even (up)
    expect(bf16BitsToF32(0xc049)).toBe(-3.140625);
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(Number.NaN)))).toBe(true);
  });
  it('round-trips every f16 value exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = f16BitsToF32(h);
      if (Number.isNaN(v)) continue;
      expect(f32ToF16Bits(v)).toBe(h);
    }
  });
  it('converts arrays with at most half-ulp error', () => {
    const rng = new Rng(1);
    const x = rng.fillNormal(new Float32Array(1000), 10) as Float32Array;
    const h = f16ArrayToF32(f32ArrayToF16(x));
    const b = bf16ArrayToF32(f32ArrayToBf16(x));
    for (let i = 0; i < x.length; i++) {
      expect(Math.abs(h[i] - x[i])).toBeLessThanOrEqual(Math.abs(x[i]) * 2 ** -11 + 2 ** -25);
      expect(Math.abs(b[i] - x[i])).toBeLessThanOrEqual(Math.abs(x[i]) * 2 ** -8);
    }
  });
});

describe('Rng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const va = Array.from({ length: 5 }, () => a.uniform());
    expect(Array.from({ length: 5 }, () => b.uniform())).toEqual(va);
    expect(Array.from({ length: 5 }, () => c.uniform())).not.toEqual(va);
  });
  it('draws normals with mean 0 and variance 1', () => {
    const rng = new Rng(9);
    const n = 200_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const v = rng.normal();
      s += v;
      s2 += v * v;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.01);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.01);
  });
});
