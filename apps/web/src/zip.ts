/**
 * A zip archive of stored (uncompressed) entries, built from Blobs: weights barely compress, and storing keeps
 * the archive a concatenation of the files' own bytes. ZIP64 is not written, so entries stay under 4 GiB.
 */

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (the zip and PNG polynomial) of a Blob, read in slices. */
async function crc32(blob: Blob): Promise<number> {
  let crc = 0xffffffff;
  const slice = 1 << 22;
  for (let at = 0; at < blob.size; at += slice) {
    const bytes = new Uint8Array(await blob.slice(at, at + slice).arrayBuffer());
    for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A zip (method 0, stored) of `files`, in order; names are UTF-8. */
export async function zipStore(files: readonly [string, Blob][]): Promise<Blob> {
  const parts: BlobPart[] = [];
  const central: Uint8Array<ArrayBuffer>[] = [];
  let offset = 0;
  for (const [name, blob] of files) {
    if (blob.size >= 0xffffffff) throw new Error(`zip: ${name} is over 4 GiB (ZIP64 is not written)`);
    const nameBytes = new TextEncoder().encode(name) as Uint8Array<ArrayBuffer>;
    const crc = await crc32(blob);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true); // version needed
    local.setUint16(6, 0x0800, true); // UTF-8 names
    local.setUint16(8, 0, true); // stored
    local.setUint32(14, crc, true);
    local.setUint32(18, blob.size, true);
    local.setUint32(22, blob.size, true);
    local.setUint16(26, nameBytes.length, true);
    parts.push(local.buffer, nameBytes, blob);
    const entry = new DataView(new ArrayBuffer(46));
    entry.setUint32(0, 0x02014b50, true);
    entry.setUint16(4, 20, true);
    entry.setUint16(6, 20, true);
    entry.setUint16(8, 0x0800, true);
    entry.setUint32(16, crc, true);
    entry.setUint32(20, blob.size, true);
    entry.setUint32(24, blob.size, true);
    entry.setUint16(28, nameBytes.length, true);
    entry.setUint32(42, offset, true);
    const record = new Uint8Array(46 + nameBytes.length);
    record.set(new Uint8Array(entry.buffer));
    record.set(nameBytes, 46);
    central.push(record);
    offset += 30 + nameBytes.length + blob.size;
  }
  const centralSize = central.reduce((a, c) => a + c.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, files.length, true);
  end.setUint16(10, files.length, true);
  end.setUint32(12, centralSize, true);
  end.setUint32(16, offset, true);
  return new Blob([...parts, ...central, end.buffer]);
}
