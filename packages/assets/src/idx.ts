/**
 * The IDX file format (LeCun's MNIST distribution format): two zero bytes, a type code, the number of
 * dimensions, that many big-endian uint32 sizes, then the elements in row-major order, big-endian.
 */

export type IdxType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

export interface IdxArray {
  type: IdxType;
  shape: number[];
  /** Elements in row-major order, converted to host byte order. */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** A file that is not well-formed IDX: bad magic, unknown type, or a length that disagrees with its header. */
export class IdxFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdxFormatError';
  }
}

const TYPES = new Map<number, { type: IdxType; size: number }>([
  [0x08, { type: 'uint8', size: 1 }],
  [0x09, { type: 'int8', size: 1 }],
  [0x0b, { type: 'int16', size: 2 }],
  [0x0c, { type: 'int32', size: 4 }],
  [0x0d, { type: 'float32', size: 4 }],
  [0x0e, { type: 'float64', size: 8 }],
]);

/**
 * Parses an IDX file held in memory. `name` (a path, say) goes into error messages. A file with fewer or more
 * bytes than its header announces is an error: a truncated download must not become a short data set.
 */
export function parseIdx(bytes: Uint8Array, name = 'IDX data'): IdxArray {
  if (bytes.length < 4)
    throw new IdxFormatError(`${name}: ${bytes.length} bytes, too short for an IDX header`);
  if (bytes[0] !== 0 || bytes[1] !== 0)
    throw new IdxFormatError(
      `${name}: not an IDX file (first two bytes are 0x${hex(bytes[0])} 0x${hex(bytes[1])}, expected 0x00 0x00` +
        `${bytes[0] === 0x1f && bytes[1] === 0x8b ? '; this is gzip — decompress it first' : ''})`,
    );
  const code = bytes[2];
  const kind = TYPES.get(code);
  if (kind === undefined)
    throw new IdxFormatError(
      `${name}: unknown IDX type code 0x${hex(code)} (expected 08, 09, 0b, 0c, 0d or 0e)`,
    );
  const ndim = bytes[3];
  const headerLength = 4 + 4 * ndim;
  if (bytes.length < headerLength)
    throw new IdxFormatError(
      `${name}: header announces ${ndim} dimensions (${headerLength} header bytes) but the file has ${bytes.length} bytes`,
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  let count = 1;
  for (let d = 0; d < ndim; d++) {
    const size = view.getUint32(4 + 4 * d, false);
    shape.push(size);
    count *= size;
  }
  const expected = headerLength + count * kind.size;
  if (!Number.isSafeInteger(expected))
    throw new IdxFormatError(`${name}: shape [${shape.join(', ')}] is too large to hold in memory`);
  if (bytes.length !== expected)
    throw new IdxFormatError(
      `${name}: shape [${shape.join(', ')}] of ${kind.type} needs ${expected} bytes, the file has ${bytes.length}` +
        (bytes.length < expected ? ' (truncated?)' : ' (trailing bytes)'),
    );
  return { type: kind.type, shape, data: decode(view, headerLength, count, kind.type) };
}

function decode(view: DataView, offset: number, count: number, type: IdxType): IdxArray['data'] {
  // copies, so the result never aliases (or pins) the caller's buffer
  switch (type) {
    case 'uint8':
      return new Uint8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + count));
    case 'int8':
      return new Int8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + count));
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
  }
}

function hex(b: number | undefined): string {
  return (b ?? 0).toString(16).padStart(2, '0');
}
