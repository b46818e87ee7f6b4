import { endianness } from 'node:os';
import { bf16ArrayToF32, f16ArrayToF32 } from '@blastkit/core';

/** The safetensors dtypes this package reads. F32, F16 and BF16 can also be written. */
export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** The dtypes {@link writeSafetensors} can write. */
export type WritableDtype = 'F32' | 'F16' | 'BF16';

/** Bytes per element of each dtype. */
export const DTYPE_SIZES: Readonly<Record<SafetensorsDtype, number>> = Object.freeze({
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
});

/**
 * The order of the Rust safetensors library's `Dtype` enum, which it uses to lay tensors out: by this rank,
 * largest first, then by name. Following it makes our files byte-identical to the reference library's.
 */
export const DTYPE_LAYOUT_RANK: Readonly<Record<SafetensorsDtype, number>> = Object.freeze({
  BOOL: 0,
  U8: 1,
  I8: 2,
  I16: 3,
  F16: 4,
  BF16: 5,
  I32: 6,
  F32: 7,
  F64: 8,
  I64: 9,
});

export function isSafetensorsDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.hasOwn(DTYPE_SIZES, value);
}

export const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/**
 * `bytes` (little-endian elements of `itemSize` bytes) in a buffer where typed-array views of that element size
 * are allowed: the same bytes when already aligned (and the host is little-endian), else an aligned copy
 * (byte-swapped on a big-endian host). File offsets in safetensors need not be aligned, so this matters for
 * any bytes that are a view into a larger buffer.
 */
export function alignedLittleEndian(bytes: Uint8Array, itemSize: number): Uint8Array {
  let out = bytes;
  if (bytes.byteOffset % itemSize !== 0) out = bytes.slice();
  if (!LITTLE_ENDIAN_HOST && itemSize > 1) {
    if (out === bytes) out = bytes.slice();
    for (let i = 0; i < out.length; i += itemSize) out.subarray(i, i + itemSize).reverse();
  }
  return out;
}

const TWO_53 = 2n ** 53n;

/** int64 → float32 with a single rounding (to nearest, ties to even), as NumPy and PyTorch convert. */
export function int64ToF32(v: bigint): number {
  const negative = v < 0n;
  let m = negative ? -v : v;
  if (m <= TWO_53) return Math.fround(Number(v)); // exact in float64: one rounding, in fround
  // keep the top 24 significant bits, round the rest to nearest even (Number(v) would round twice)
  const shift = BigInt(m.toString(2).length - 24);
  const rest = m & ((1n << shift) - 1n);
  const half = 1n << (shift - 1n);
  m >>= shift;
  if (rest > half || (rest === half && (m & 1n) === 1n)) m += 1n;
  const value = Number(m) * 2 ** Number(shift); // exact: ≤ 2^24 times a power of two
  return negative ? -value : value;
}

/**
 * Decodes little-endian elements of `dtype` to float32 values. `bytes.length` must be a multiple of the
 * element size. F32 data that is already aligned is viewed, not copied: the result then shares memory with
 * `bytes` (this package always reads into a fresh buffer of the tensor's own, so that is safe there).
 */
export function decodeToF32(dtype: SafetensorsDtype, bytes: Uint8Array): Float32Array {
  const size = DTYPE_SIZES[dtype];
  const b = alignedLittleEndian(bytes, size);
  const n = b.length / size;
  switch (dtype) {
    case 'F32':
      return new Float32Array(b.buffer, b.byteOffset, n);
    case 'F64':
      return Float32Array.from(new Float64Array(b.buffer, b.byteOffset, n));
    case 'F16':
      return f16ArrayToF32(new Uint16Array(b.buffer, b.byteOffset, n));
    case 'BF16':
      return bf16ArrayToF32(new Uint16Array(b.buffer, b.byteOffset, n));
    case 'I64': {
      const src = new BigInt64Array(b.buffer, b.byteOffset, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = int64ToF32(src[i]);
      return out;
    }
    case 'I32':
      return Float32Array.from(new Int32Array(b.buffer, b.byteOffset, n));
    case 'I16':
      return Float32Array.from(new Int16Array(b.buffer, b.byteOffset, n));
    case 'I8':
      return Float32Array.from(new Int8Array(b.buffer, b.byteOffset, n));
    case 'U8':
      return Float32Array.from(b);
    case 'BOOL': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = b[i] === 0 ? 0 : 1;
      return out;
    }
  }
}
