import { type FileHandle, open } from 'node:fs/promises';
import { Tensor } from '@blastkit/core';
import { DTYPE_SIZES, decodeToF32, isSafetensorsDtype, type SafetensorsDtype } from './dtypes.js';
import { describeError, SafetensorsError } from './errors.js';
import { readAt } from './read-exactly.js';

/** The largest header this reader accepts, in bytes (the reference library's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor's entry in the header. `dataOffsets` are relative to the start of the data section. */
export interface TensorInfo {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly dataOffsets: readonly [number, number];
}

/** A tensor's bytes as stored: little-endian elements of `dtype`, row-major. */
export interface RawTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  bytes: Uint8Array;
}

const SUPPORTED = Object.keys(DTYPE_SIZES).join(', ');

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

function quoteList(names: readonly string[], max: number): string {
  const shown = names.slice(0, max).map((n) => `'${n}'`);
  if (names.length > max) shown.push(`… (${names.length - max} more)`);
  return shown.join(', ');
}

function describeJson(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Validates a parsed header against a data section of `dataBytes` bytes. */
function parseHeader(
  file: string,
  header: unknown,
  dataBytes: number,
): { metadata: Record<string, string>; tensors: Map<string, TensorInfo> } {
  if (!isPlainObject(header)) {
    throw new SafetensorsError(file, `header is not a JSON object (got ${describeJson(header)})`);
  }
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) {
        throw new SafetensorsError(
          file,
          `__metadata__ must be an object of strings (got ${describeJson(entry)})`,
        );
      }
      for (const [key, value] of Object.entries(entry)) {
        if (typeof value !== 'string') {
          throw new SafetensorsError(
            file,
            `__metadata__ entry '${key}' must be a string (got ${describeJson(value)})`,
          );
        }
        metadata[key] = value;
      }
      continue;
    }
    const fail = (problem: string) => new SafetensorsError(file, problem, { tensor: name });
    if (!isPlainObject(entry)) {
      throw fail(
        `header entry must be an object with dtype, shape and data_offsets (got ${describeJson(entry)})`,
      );
    }
    const { dtype, shape, data_offsets: offsets } = entry;
    if (!isSafetensorsDtype(dtype)) {
      throw fail(
        typeof dtype === 'string'
          ? `dtype '${dtype}' is not supported (supported: ${SUPPORTED})`
          : `dtype must be a string (got ${describeJson(dtype)})`,
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw fail(`shape must be an array of non-negative integers (got ${describeJson(shape)})`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
    ) {
      throw fail(
        `data_offsets must be [begin, end] with non-negative integers (got ${describeJson(offsets)})`,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw fail(`data_offsets [${begin}, ${end}] end before they begin`);
    const needed = shape.reduce((a: number, d: number) => a * d, 1) * DTYPE_SIZES[dtype];
    if (end - begin !== needed) {
      throw fail(
        `data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} ${formatShape(shape)} needs ${needed}`,
      );
    }
    if (end > dataBytes) {
      throw fail(`ends at byte ${end} but the data section has ${dataBytes} bytes (truncated file?)`);
    }
    tensors.set(
      name,
      Object.freeze({
        dtype,
        shape: Object.freeze([...shape]),
        dataOffsets: Object.freeze([begin, end]) as readonly [number, number],
      }),
    );
  }
  // no two tensors may share bytes (empty tensors hold none)
  const spans = [...tensors].filter(([, t]) => t.dataOffsets[1] > t.dataOffsets[0]);
  spans.sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0]);
  let last: [string, TensorInfo] | undefined;
  for (const span of spans) {
    if (last && span[1].dataOffsets[0] < last[1].dataOffsets[1]) {
      const [a, b] = [last[1].dataOffsets, span[1].dataOffsets];
      throw new SafetensorsError(
        file,
        `tensors '${last[0]}' and '${span[0]}' overlap (data_offsets [${a[0]}, ${a[1]}] and [${b[0]}, ${b[1]}])`,
      );
    }
    if (!last || span[1].dataOffsets[1] > last[1].dataOffsets[1]) last = span;
  }
  return { metadata, tensors };
}

/**
 * An open safetensors file. Only the header has been read; {@link readTensor} and {@link readRaw} read one
 * tensor's bytes each, at its offset. Call {@link close} when done.
 */
export class SafetensorsFile {
  /** The path, as given to {@link openSafetensors}. */
  readonly path: string;
  /** The `__metadata__` entries (empty when the file has none). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Every tensor's dtype, shape and offsets, in header order. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** The header's length in bytes (the JSON after the 8-byte length prefix, padding included). */
  readonly headerLength: number;
  /** The data section's length in bytes. */
  readonly dataLength: number;

  private handle: FileHandle | undefined;
  private read = 0;

  private constructor(
    path: string,
    handle: FileHandle,
    headerLength: number,
    dataLength: number,
    parsed: ReturnType<typeof parseHeader>,
    bytesRead: number,
  ) {
    this.path = path;
    this.handle = handle;
    this.headerLength = headerLength;
    this.dataLength = dataLength;
    this.metadata = Object.freeze(parsed.metadata);
    this.tensors = parsed.tensors;
    this.read = bytesRead;
  }

  /** @internal Use {@link openSafetensors}. */
  static async open(path: string): Promise<SafetensorsFile> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      throw new SafetensorsError(path, `cannot open: ${describeError(err)}`, { cause: err });
    }
    try {
      const { size } = await handle.stat();
      if (size < 8) {
        throw new SafetensorsError(
          path,
          `file has ${size} bytes, too few for the 8-byte header length (not a safetensors file?)`,
        );
      }
      const prefix = await readAt(handle, 0, 8);
      const declared = new DataView(prefix.buffer).getBigUint64(0, true);
      if (declared > BigInt(MAX_HEADER_BYTES)) {
        throw new SafetensorsError(path, `header length ${declared} exceeds the 100 MB cap`);
      }
      const headerLength = Number(declared);
      if (headerLength > size - 8) {
        throw new SafetensorsError(
          path,
          `header length ${headerLength} exceeds the ${size - 8} bytes after the 8-byte length prefix (truncated file, or not a safetensors file?)`,
        );
      }
      const headerBytes = await readAt(handle, 8, headerLength);
      if (headerBytes.length < headerLength) {
        throw new SafetensorsError(path, 'file shrank while its header was read');
      }
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
      } catch {
        throw new SafetensorsError(path, 'header is not valid UTF-8 (not a safetensors file?)');
      }
      let header: unknown;
      try {
        header = JSON.parse(text);
      } catch (err) {
        throw new SafetensorsError(path, `header is not valid JSON (${describeError(err)})`, { cause: err });
      }
      const dataLength = size - 8 - headerLength;
      const parsed = parseHeader(path, header, dataLength);
      return new SafetensorsFile(path, handle, headerLength, dataLength, parsed, 8 + headerLength);
    } catch (err) {
      await handle.close().catch(() => {});
      throw err instanceof SafetensorsError
        ? err
        : new SafetensorsError(path, `cannot read: ${describeError(err)}`, { cause: err });
    }
  }

  /** Bytes read from the file so far: the length prefix, the header, and each tensor read. */
  get bytesRead(): number {
    return this.read;
  }

  /** The tensor names, in header order. */
  names(): string[] {
    return [...this.tensors.keys()];
  }

  /** A tensor's dtype, shape and offsets; throws a {@link SafetensorsError} listing some names if absent. */
  info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (info === undefined) {
      const names = this.names();
      const available = names.length === 0 ? 'the file has no tensors' : `available: ${quoteList(names, 5)}`;
      throw new SafetensorsError(this.path, `no tensor named '${name}' (${available})`);
    }
    return info;
  }

  /** One tensor's bytes as stored (little-endian, row-major), read from the file at its offset. */
  async readRaw(name: string): Promise<RawTensor> {
    const info = this.info(name);
    if (this.handle === undefined) throw new SafetensorsError(this.path, 'file is closed', { tensor: name });
    const [begin, end] = info.dataOffsets;
    let bytes: Uint8Array;
    try {
      bytes = await readAt(this.handle, 8 + this.headerLength + begin, end - begin);
    } catch (err) {
      throw new SafetensorsError(this.path, `cannot read: ${describeError(err)}`, {
        tensor: name,
        cause: err,
      });
    }
    this.read += bytes.length;
    if (bytes.length < end - begin) {
      throw new SafetensorsError(
        this.path,
        `read ${bytes.length} of ${end - begin} bytes: the file was truncated after it was opened`,
        { tensor: name },
      );
    }
    return { dtype: info.dtype, shape: [...info.shape], bytes };
  }

  /** One tensor, converted to float32 (F64, F16, BF16, integers; BOOL as 0/1). Reads only its bytes. */
  async readTensor(name: string): Promise<Tensor> {
    const { dtype, shape, bytes } = await this.readRaw(name);
    return new Tensor(shape, decodeToF32(dtype, bytes));
  }

  /** Closes the file handle. Further reads throw; closing twice is harmless. */
  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }
}

/**
 * Opens a safetensors file and reads and validates its header only: dtypes, shapes against byte lengths,
 * offsets within the data section, no overlapping tensors. Tensors are read on demand.
 * Every problem throws a {@link SafetensorsError} naming the file, the tensor and the problem.
 */
export function openSafetensors(path: string): Promise<SafetensorsFile> {
  return SafetensorsFile.open(path);
}
