import type { FileHandle } from 'node:fs/promises';

/**
 * The most bytes one `FileHandle.read` call is asked for. Node refuses a single read longer than 2 GiB − 1
 * (ERR_OUT_OF_RANGE), so a tensor of 2 GiB or more is read in pieces of this size.
 */
export const READ_CHUNK_BYTES = 1 << 30;

/**
 * Reads exactly `length` bytes at `position` into a new buffer of its own (so typed views of any element size
 * are aligned), in reads of at most `chunk` bytes. Returns fewer bytes only when the file ends first.
 */
export async function readAt(
  handle: FileHandle,
  position: number,
  length: number,
  chunk = READ_CHUNK_BYTES,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(out, done, Math.min(chunk, length - done), position + done);
    if (bytesRead === 0) return out.subarray(0, done);
    done += bytesRead;
  }
  return out;
}
