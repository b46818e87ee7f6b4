import type { FileHandle } from 'node:fs/promises';

/**
 * Reads exactly `length` bytes at `position` into a new buffer of its own (so typed views of any element size
 * are aligned). Returns fewer bytes only when the file ends first.
 */
export async function readAt(handle: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(out, done, length - done, position + done);
    if (bytesRead === 0) return out.subarray(0, done);
    done += bytesRead;
  }
  return out;
}
