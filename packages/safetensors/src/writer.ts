import { f32ArrayToBf16, f32ArrayToF16, shapeSize, type Tensor } from '@blastkit/core';
import { type ByteSink, writeFileAtomic } from './atomic-write.js';
import { DTYPE_LAYOUT_RANK, DTYPE_SIZES, LITTLE_ENDIAN_HOST, type WritableDtype } from './dtypes.js';
import { describeError, SafetensorsError } from './errors.js';

/**
 * A tensor to write: a float32 {@link Tensor} (stored as F32), one with the dtype to store it as, or a lazy one —
 * its shape now and its data only when its turn comes, so a model can be re-written holding one tensor at a time.
 */
export type TensorEntry =
  | Tensor
  | { dtype: WritableDtype; tensor: Tensor }
  | { dtype?: WritableDtype; shape: readonly number[]; load: () => Promise<Tensor> };

const WRITABLE: readonly string[] = ['F32', 'F16', 'BF16'];
const CHUNK_ELEMENTS = 1 << 18;
const utf8 = new TextEncoder();

/** Compares strings by their UTF-8 bytes, as Rust orders `String`s. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function isTensorLike(value: unknown): value is Tensor {
  return typeof value === 'object' && value !== null && 'shape' in value && 'data' in value;
}

interface Planned {
  name: string;
  dtype: WritableDtype;
  tensor: Tensor | (() => Promise<Tensor>);
  shape: number[];
  size: number;
  begin: number;
  end: number;
}

/** Little-endian bytes of a typed array (a view on little-endian hosts, a swapped copy otherwise). */
function littleEndianBytes(array: Float32Array | Uint16Array): Uint8Array {
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  if (LITTLE_ENDIAN_HOST) return bytes;
  const out = bytes.slice();
  const k = array.BYTES_PER_ELEMENT;
  for (let i = 0; i < out.length; i += k) out.subarray(i, i + k).reverse();
  return out;
}

async function writeTensorData(sink: ByteSink, file: string, p: Planned): Promise<void> {
  let data: unknown;
  try {
    const tensor = typeof p.tensor === 'function' ? await p.tensor() : p.tensor;
    if (!isTensorLike(tensor)) throw new Error('load() did not return a Tensor');
    if (tensor.shape.length !== p.shape.length || tensor.shape.some((d, i) => d !== p.shape[i]))
      throw new Error(
        `load() returned shape [${tensor.shape.join(',')}], the header says [${p.shape.join(',')}]`,
      );
    data = tensor.data; // may throw (a getter, a proxy): the write is then abandoned
  } catch (err) {
    throw new SafetensorsError(
      file,
      `cannot read the tensor's data (${describeError(err)}); the write was abandoned and any existing file is untouched`,
      { tensor: p.name, cause: err },
    );
  }
  if (!(data instanceof Float32Array)) {
    throw new SafetensorsError(file, 'tensor data must be a Float32Array', { tensor: p.name });
  }
  if (data.length !== p.size) {
    throw new SafetensorsError(
      file,
      `tensor data has ${data.length} elements but shape [${p.shape.join(',')}] needs ${p.size}`,
      { tensor: p.name },
    );
  }
  for (let i = 0; i < data.length; i += CHUNK_ELEMENTS) {
    const chunk = data.subarray(i, Math.min(data.length, i + CHUNK_ELEMENTS));
    const stored =
      p.dtype === 'F32' ? chunk : p.dtype === 'F16' ? f32ArrayToF16(chunk) : f32ArrayToBf16(chunk);
    await sink.write(littleEndianBytes(stored));
  }
}

/**
 * Writes tensors to a safetensors file, atomically (a temporary file next to `path`, fsynced, then renamed).
 * The layout matches the reference Python/Rust library byte for byte: tensors ordered by dtype (F32, then BF16,
 * then F16) and then by name, `__metadata__` first in the header (its keys sorted), the header padded with spaces
 * to a multiple of 8 bytes. F16 and BF16 round to nearest even. On any error nothing is left behind and an
 * existing file at `path` is untouched; the error is a {@link SafetensorsError}.
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, TensorEntry>,
  metadata?: Record<string, string>,
): Promise<void> {
  if (typeof tensors !== 'object' || tensors === null) {
    throw new SafetensorsError(path, 'tensors must be an object mapping names to tensors');
  }
  const planned: Planned[] = [];
  for (const [name, entry] of Object.entries(tensors)) {
    const fail = (problem: string, cause?: unknown) =>
      new SafetensorsError(path, problem, { tensor: name, cause });
    if (name === '__metadata__') throw fail('the name __metadata__ is reserved for the metadata');
    if (name === '') throw fail('tensor names must not be empty');
    let dtype: WritableDtype = 'F32';
    let tensor: unknown = entry;
    if (typeof entry === 'object' && entry !== null && 'load' in entry) {
      if (entry.dtype !== undefined && !WRITABLE.includes(entry.dtype))
        throw fail(`cannot write dtype '${String(entry.dtype)}' (writable: ${WRITABLE.join(', ')})`);
      if (typeof entry.load !== 'function') throw fail('a lazy entry needs a load() function');
      let size: number;
      try {
        size = shapeSize(entry.shape);
      } catch (err) {
        throw fail(describeError(err), err);
      }
      const shape = [...entry.shape];
      planned.push({ name, dtype: entry.dtype ?? 'F32', tensor: entry.load, shape, size, begin: 0, end: 0 });
      continue;
    }
    if (typeof entry === 'object' && entry !== null && 'tensor' in entry) {
      if (!WRITABLE.includes(entry.dtype)) {
        throw fail(`cannot write dtype '${String(entry.dtype)}' (writable: ${WRITABLE.join(', ')})`);
      }
      dtype = entry.dtype;
      tensor = entry.tensor;
    }
    if (!isTensorLike(tensor)) throw fail('expected a Tensor or { dtype, tensor }');
    let size: number;
    try {
      size = shapeSize(tensor.shape);
    } catch (err) {
      throw fail(describeError(err), err);
    }
    planned.push({ name, dtype, tensor, shape: [...tensor.shape], size, begin: 0, end: 0 });
  }
  if (metadata !== undefined) {
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw new SafetensorsError(path, 'metadata must be an object of strings');
    }
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new SafetensorsError(path, `metadata entry '${key}' must be a string (got ${typeof value})`);
      }
    }
  }

  // the reference layout: larger dtypes first (keeps every tensor aligned to its element size), then by name
  planned.sort(
    (a, b) => DTYPE_LAYOUT_RANK[b.dtype] - DTYPE_LAYOUT_RANK[a.dtype] || compareUtf8(a.name, b.name),
  );
  let offset = 0;
  for (const p of planned) {
    p.begin = offset;
    offset += p.size * DTYPE_SIZES[p.dtype];
    p.end = offset;
  }

  // written by hand, not as one object: JSON.stringify would move integer-like names ("0") to the front
  const entries: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort(compareUtf8);
    const body = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',');
    entries.push(`"__metadata__":{${body}}`);
  }
  for (const p of planned) {
    entries.push(
      `${JSON.stringify(p.name)}:{"dtype":"${p.dtype}","shape":[${p.shape.join(',')}],"data_offsets":[${p.begin},${p.end}]}`,
    );
  }
  const json = utf8.encode(`{${entries.join(',')}}`);
  const padded = new Uint8Array(json.length + ((8 - (json.length % 8)) % 8)).fill(0x20);
  padded.set(json);
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(padded.length), true);

  await writeFileAtomic(
    path,
    async (sink) => {
      await sink.write(prefix);
      await sink.write(padded);
      for (const p of planned) await writeTensorData(sink, path, p);
    },
    (problem, cause) =>
      cause instanceof SafetensorsError ? cause : new SafetensorsError(path, problem, { cause }),
  );
}
