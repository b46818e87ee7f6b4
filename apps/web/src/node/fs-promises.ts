/**
 * `node:fs/promises` for the browser (a Vite alias): the read side over the page's virtual files, so the
 * blastkit loaders open models the user picked or the page fetched. Writing is not offered.
 */
import './buffer-global.js';
import { Buffer } from 'buffer';
import { getFile, isFolder, listFolder, notFound, unsupported } from '../virtual-files.js';

/** The part of Node's FileHandle the loaders use: positioned reads, size, close. */
export interface FileHandle {
  read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number; buffer: Uint8Array }>;
  stat(): Promise<{ size: number; isFile(): boolean; isDirectory(): boolean }>;
  close(): Promise<void>;
}

/** Opens a virtual file for reading; reads slice the Blob, so a large file is never held whole. */
export async function open(path: string, flags = 'r'): Promise<FileHandle> {
  if (flags !== 'r') unsupported(`open(${flags})`)();
  const blob = getFile(path);
  if (!blob) throw notFound(path, 'open');
  let closed = false;
  return {
    async read(buffer, offset, length, position) {
      if (closed) throw new Error(`read of closed file '${path}'`);
      const end = Math.min(blob.size, position + length);
      if (end <= position) return { bytesRead: 0, buffer };
      const bytes = new Uint8Array(await blob.slice(position, end).arrayBuffer());
      buffer.set(bytes, offset);
      return { bytesRead: bytes.length, buffer };
    },
    async stat() {
      return fileStat(blob.size, false);
    },
    async close() {
      closed = true;
    },
  };
}

/** The whole file: a Buffer, or a string with an encoding. */
export async function readFile(
  path: string,
  options?: BufferEncoding | { encoding?: BufferEncoding | null },
): Promise<Buffer | string> {
  const blob = getFile(path);
  if (!blob) throw notFound(path, 'open');
  const encoding = typeof options === 'string' ? options : options?.encoding;
  if (encoding) return blob.text();
  return Buffer.from(await blob.arrayBuffer());
}

/** Size and kind of a virtual file or folder. */
export async function stat(path: string) {
  const blob = getFile(path);
  if (blob) return fileStat(blob.size, false);
  if (isFolder(path)) return fileStat(0, true);
  throw notFound(path, 'stat');
}

/** Names in a virtual folder. */
export async function readdir(path: string): Promise<string[]> {
  if (!isFolder(path)) throw notFound(path, 'scandir');
  return listFolder(path);
}

export function fileStat(size: number, directory: boolean) {
  return { size, isFile: () => !directory, isDirectory: () => directory };
}

export const writeFile = unsupported('writeFile');
export const copyFile = unsupported('copyFile');
export const mkdir = unsupported('mkdir');
export const rename = unsupported('rename');
export const rm = unsupported('rm');
export const unlink = unsupported('unlink');
export const appendFile = unsupported('appendFile');

export default { open, readFile, stat, readdir, writeFile, copyFile, mkdir, rename, rm, unlink, appendFile };
