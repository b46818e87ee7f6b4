import { type FileHandle, open } from 'node:fs/promises';
import { shapeSize, Tensor } from '@blastkit/core';
import { writeFileAtomic } from './atomic-write.js';
import { decodeToF32, LITTLE_ENDIAN_HOST, type SafetensorsDtype } from './dtypes.js';
import { describeError } from './errors.js';
import { readAt } from './read-exactly.js';

/** Any problem with a .npy file; the message names the file and the problem. */
export class NpyError extends Error {
  /** The file, as the caller named it. */
  readonly file: string;

  constructor(file: string, problem: string, options: { cause?: unknown } = {}) {
    super(`${file}: ${problem}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NpyError';
    this.file = file;
  }
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** The float dtypes read: descr kind+size → the equivalent safetensors dtype. */
const FLOAT_DESCR: Record<string, SafetensorsDtype> = { f2: 'F16', f4: 'F32', f8: 'F64' };

type PyValue = string | number | boolean | null | PyValue[] | { [key: string]: PyValue };

/** Deeper nesting than this is no .npy header numpy writes; refusing it keeps the recursion bounded. */
const MAX_LITERAL_DEPTH = 32;

/** Parses the Python literal of a .npy header: a dict of strings, booleans, ints, tuples and lists. */
function parsePythonLiteral(text: string): PyValue {
  let pos = 0;
  let depth = 0;
  const fail = (what: string): never => {
    throw new Error(`${what} at character ${pos}`);
  };
  const skip = () => {
    while (pos < text.length && /\s/.test(text[pos])) pos++;
  };
  const enter = () => {
    if (++depth > MAX_LITERAL_DEPTH) fail(`nesting deeper than ${MAX_LITERAL_DEPTH}`);
  };
  const sequence = (close: string): PyValue[] => {
    const items: PyValue[] = [];
    enter();
    pos++;
    skip();
    while (text[pos] !== close) {
      items.push(value());
      skip();
      if (text[pos] === ',') {
        pos++;
        skip();
      } else if (text[pos] !== close) fail(`expected ',' or '${close}'`);
    }
    pos++;
    depth--;
    return items;
  };
  // sticky: matches at `pos` without copying the rest of the text (a long header stays linear)
  const scalar = /(-?\d+)L?|(True|False|None)\b/y;
  const value = (): PyValue => {
    skip();
    const c = text[pos];
    if (c === '{') {
      // no prototype: a '__proto__' key is an entry like any other
      const dict: { [key: string]: PyValue } = Object.create(null);
      enter();
      pos++;
      skip();
      while (text[pos] !== '}') {
        const key = value();
        if (typeof key !== 'string') fail('dict keys must be strings');
        skip();
        if (text[pos] !== ':') fail("expected ':'");
        pos++;
        dict[key as string] = value();
        skip();
        if (text[pos] === ',') {
          pos++;
          skip();
        } else if (text[pos] !== '}') fail("expected ',' or '}'");
      }
      pos++;
      depth--;
      return dict;
    }
    if (c === '(') return sequence(')');
    if (c === '[') return sequence(']');
    if (c === "'" || c === '"') {
      let out = '';
      pos++;
      while (pos < text.length && text[pos] !== c) {
        if (text[pos] === '\\') pos++;
        out += text[pos++];
      }
      if (pos >= text.length) fail('unterminated string');
      pos++;
      return out;
    }
    scalar.lastIndex = pos;
    const m = scalar.exec(text);
    if (!m) return fail(c === undefined ? 'unexpected end' : `unexpected '${c}'`);
    pos += m[0].length;
    if (m[2] !== undefined) return m[2] === 'None' ? null : m[2] === 'True';
    const n = Number(m[1]);
    if (!Number.isSafeInteger(n)) fail(`integer ${m[1]} is too large`);
    return n;
  };
  const result = value();
  skip();
  if (pos !== text.length) fail('unexpected text after the literal');
  return result;
}

function shapeRepr(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/**
 * Reads a NumPy .npy file (format 1.0, 2.0 or 3.0) of little-endian float16, float32 or float64 values in
 * C order, as a float32 {@link Tensor} (float64 rounds to nearest). Throws an {@link NpyError} for anything
 * else: bad magic, Fortran order, big-endian or non-float dtypes, a data length that does not match the shape.
 */
export async function readNpy(path: string): Promise<Tensor> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new NpyError(path, `cannot open: ${describeError(err)}`, { cause: err });
  }
  try {
    const { size } = await handle.stat();
    const prefix = await readAt(handle, 0, Math.min(size, 12));
    if (prefix.length < 10 || MAGIC.some((b, i) => prefix[i] !== b)) {
      throw new NpyError(path, 'not a .npy file (it does not start with the magic string "\\x93NUMPY")');
    }
    const [major, minor] = [prefix[6], prefix[7]];
    if (![1, 2, 3].includes(major) || minor !== 0) {
      throw new NpyError(
        path,
        `unsupported .npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`,
      );
    }
    const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
    if (major > 1 && prefix.length < 12)
      throw new NpyError(path, 'truncated file: the header length is cut off');
    const headerStart = major === 1 ? 10 : 12;
    const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
    if (headerStart + headerLength > size) {
      throw new NpyError(
        path,
        `header length ${headerLength} runs past the end of the ${size}-byte file (truncated file?)`,
      );
    }
    const headerBytes = await readAt(handle, headerStart, headerLength);
    const headerText = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(headerBytes);
    let header: PyValue;
    try {
      header = parsePythonLiteral(headerText);
    } catch (err) {
      throw new NpyError(path, `header is not a Python dict literal: ${describeError(err)}`, { cause: err });
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) {
      throw new NpyError(path, 'header is not a Python dict');
    }
    for (const key of ['descr', 'fortran_order', 'shape']) {
      if (!(key in header)) throw new NpyError(path, `header has no '${key}' entry`);
    }
    const { descr, fortran_order: fortranOrder, shape } = header;
    if (typeof descr !== 'string') {
      throw new NpyError(path, 'structured dtypes are not supported: save a plain float array');
    }
    const m = /^([<>|=])([a-zA-Z])(\d+)$/.exec(descr);
    const dtype = m ? FLOAT_DESCR[`${m[2]}${m[3]}`] : undefined;
    if (!m || dtype === undefined) {
      throw new NpyError(
        path,
        `dtype '${descr}' is not supported: only float16, float32 and float64 ('<f2', '<f4', '<f8')`,
      );
    }
    if (m[1] === '>' || m[1] === '=') {
      throw new NpyError(
        path,
        `${m[1] === '>' ? 'big-endian' : 'native-order'} dtype '${descr}' is not supported; save with arr.astype('<${m[2]}${m[3]}')`,
      );
    }
    if (fortranOrder !== false) {
      if (fortranOrder === true) {
        throw new NpyError(
          path,
          'Fortran-order arrays are not supported; save with np.ascontiguousarray(arr)',
        );
      }
      throw new NpyError(path, `fortran_order must be True or False (got ${String(fortranOrder)})`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && d >= 0)) {
      throw new NpyError(
        path,
        `shape must be a tuple of non-negative integers (got ${JSON.stringify(shape)})`,
      );
    }
    const dims = shape as number[];
    const itemSize = Number(m[3]);
    const needed = dims.reduce((a, d) => a * d, 1) * itemSize;
    const dataStart = headerStart + headerLength;
    const available = size - dataStart;
    if (available !== needed) {
      throw new NpyError(
        path,
        available < needed
          ? `truncated file: the data has ${available} bytes but ${descr} ${shapeRepr(dims)} needs ${needed}`
          : `the data has ${available} bytes but ${descr} ${shapeRepr(dims)} needs ${needed} (trailing bytes)`,
      );
    }
    const data = await readAt(handle, dataStart, needed);
    if (data.length < needed) throw new NpyError(path, 'truncated file: it shrank while it was read');
    return new Tensor(dims, decodeToF32(dtype, data));
  } catch (err) {
    throw err instanceof NpyError
      ? err
      : new NpyError(path, `cannot read: ${describeError(err)}`, { cause: err });
  } finally {
    await handle.close().catch(() => {});
  }
}

/** The .npy v1.0 header numpy writes for a C-order float32 array, padded so the data starts at a multiple of 64. */
function npyHeader(shape: readonly number[]): Uint8Array {
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeRepr(shape)}, }`;
  // numpy leaves room to grow the first axis in place (GROWTH_AXIS_MAX_DIGITS = 21)
  if (shape.length > 0) dict += ' '.repeat(Math.max(0, 21 - String(shape[0]).length));
  const padding = 64 - ((MAGIC.length + 2 + 2 + dict.length + 1) % 64);
  const text = `${dict}${' '.repeat(padding)}\n`;
  const out = new Uint8Array(10 + text.length);
  out.set(MAGIC);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, text.length, true);
  for (let i = 0; i < text.length; i++) out[10 + i] = text.charCodeAt(i);
  return out;
}

/**
 * Writes a float32 tensor as a .npy file (format 1.0, '<f4', C order), byte-identical to `numpy.save`, atomically
 * (a temporary file next to `path`, fsynced, then renamed). On any error nothing is left behind, an existing
 * file is untouched, and an {@link NpyError} is thrown.
 */
export async function writeNpy(path: string, tensor: Tensor): Promise<void> {
  if (typeof tensor !== 'object' || tensor === null || !('shape' in tensor) || !('data' in tensor)) {
    throw new NpyError(path, 'expected a Tensor');
  }
  let size: number;
  try {
    size = shapeSize(tensor.shape);
  } catch (err) {
    throw new NpyError(path, describeError(err), { cause: err });
  }
  const header = npyHeader(tensor.shape);
  if (header.length - 10 > 0xffff) {
    throw new NpyError(path, `shape of rank ${tensor.shape.length} is too long for a format 1.0 header`);
  }
  await writeFileAtomic(
    path,
    async (sink) => {
      await sink.write(header);
      let data: unknown;
      try {
        data = tensor.data;
      } catch (err) {
        throw new NpyError(
          path,
          `cannot read the tensor's data (${describeError(err)}); the write was abandoned and any existing file is untouched`,
          { cause: err },
        );
      }
      if (!(data instanceof Float32Array) || data.length !== size) {
        throw new NpyError(path, `tensor data must be a Float32Array of ${size} elements`);
      }
      let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      if (!LITTLE_ENDIAN_HOST) {
        bytes = bytes.slice();
        for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
      }
      await sink.write(bytes);
    },
    (problem, cause) => (cause instanceof NpyError ? cause : new NpyError(path, problem, { cause })),
  );
}
