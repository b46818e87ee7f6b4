import type { Readable } from 'node:stream';

/**
 * Reads the regular-file entries of a (decompressed) tar stream one at a time, calling `onEntry` with the
 * entry's path and size; it returns a sink for that entry's bytes, or undefined to skip them. Only what npm
 * tarballs use is supported (ustar headers, GNU/pax long names are skipped over as entries of their own):
 * a full tar library would be a dependency for the one job of pulling named files out of `npm pack` output.
 */
export async function readTarEntries(
  source: Readable,
  onEntry: (path: string, size: number) => ((chunk: Uint8Array) => void) | undefined,
): Promise<void> {
  let pending: Buffer = Buffer.alloc(0);
  let remaining = 0; // bytes of the current entry still to come
  let padding = 0; // zero bytes after it, up to the next 512 boundary
  let sink: ((chunk: Uint8Array) => void) | undefined;
  let ended = false;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (!ended) {
      if (remaining > 0) {
        if (pending.length === 0) break;
        const take = Math.min(remaining, pending.length);
        sink?.(pending.subarray(0, take));
        pending = pending.subarray(take);
        remaining -= take;
        continue;
      }
      if (padding > 0) {
        const take = Math.min(padding, pending.length);
        pending = pending.subarray(take);
        padding -= take;
        if (padding > 0) break;
        continue;
      }
      if (pending.length < 512) break;
      const header = pending.subarray(0, 512);
      pending = pending.subarray(512);
      if (header.every((b) => b === 0)) {
        ended = true; // end-of-archive marker
        break;
      }
      const name = cString(header, 0, 100);
      const prefix = cString(header, 345, 155);
      const size = Number.parseInt(cString(header, 124, 12).trim() || '0', 8);
      if (!Number.isFinite(size) || size < 0)
        throw new Error(`tar: bad size field in the header of '${name}'`);
      const type = String.fromCharCode(header[156] || 0x30);
      const path = prefix ? `${prefix}/${name}` : name;
      sink = type === '0' || type === '\0' ? onEntry(path, size) : undefined;
      remaining = size;
      padding = (512 - (size % 512)) % 512;
    }
  }
  if (remaining > 0) throw new Error('tar: the archive ends inside an entry (truncated download?)');
}

function cString(buf: Uint8Array, offset: number, length: number): string {
  const slice = buf.subarray(offset, offset + length);
  const end = slice.indexOf(0);
  return Buffer.from(end < 0 ? slice : slice.subarray(0, end)).toString('utf8');
}
