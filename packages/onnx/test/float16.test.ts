import { describe, expect, it } from 'vitest';
import { float16Bits, fromFloat16, toFloat16 } from '../src/graph/float16.js';

describe('float16 conversion (fp16 exports)', () => {
  it('rounds to nearest even, keeps subnormals, clamps finite overflow to ±65504', () => {
    expect(float16Bits(1)).toBe(0x3c00);
    expect(float16Bits(-2)).toBe(0xc000);
    expect(float16Bits(65504)).toBe(0x7bff);
    // 65520 would round up to 2^16, past float16's range: the largest finite value instead of ∞
    expect(float16Bits(65520)).toBe(0x7bff);
    expect(float16Bits(-1e9)).toBe(0xfbff);
    expect(float16Bits(Number.POSITIVE_INFINITY)).toBe(0x7c00);
    expect(Number.isNaN(fromFloat16(Uint16Array.of(float16Bits(Number.NaN)))[0])).toBe(true);
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1); 1 + 3·2^-11 to 1 + 2^-9
    expect(float16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(float16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(float16Bits(2 ** -24)).toBe(0x0001);
    expect(float16Bits(2 ** -14 - 2 ** -25)).toBe(0x0400); // the largest subnormal's half-step rounds up to normal
    expect(float16Bits(2 ** -26)).toBe(0);
  });

  it('round-trips every float16 value exactly', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = toFloat16(fromFloat16(all));
    const wrong: string[] = [];
    for (let i = 0; i < 65536; i++) {
      const nan = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (!nan && back[i] !== i) wrong.push(`${i.toString(16)} → ${back[i].toString(16)}`);
    }
    expect(wrong).toEqual([]);
  });
});
