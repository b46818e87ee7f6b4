/** `node:fs` for the browser (a Vite alias): existence and size checks over the page's virtual files. */
import './buffer-global.js';
import { getFile, isFolder, listFolder, notFound, unsupported } from '../virtual-files.js';
import { fileStat } from './fs-promises.js';

/** Whether a virtual file or folder exists. */
export function existsSync(path: string): boolean {
  return getFile(path) !== undefined || isFolder(path);
}

/** Size and kind of a virtual file or folder. */
export function statSync(path: string) {
  const blob = getFile(path);
  if (blob) return fileStat(blob.size, false);
  if (isFolder(path)) return fileStat(0, true);
  throw notFound(path, 'stat');
}

/** Names in a virtual folder. */
export function readdirSync(path: string): string[] {
  if (!isFolder(path)) throw notFound(path, 'scandir');
  return listFolder(path);
}

export const readFileSync = unsupported('readFileSync (files are read asynchronously in the browser)');
export const openSync = unsupported('openSync');
export const closeSync = unsupported('closeSync');
export const mkdirSync = unsupported('mkdirSync');
export const realpathSync = unsupported('realpathSync');
export const rmSync = unsupported('rmSync');
export const writeFileSync = unsupported('writeFileSync');

export default {
  existsSync,
  statSync,
  readdirSync,
  readFileSync,
  openSync,
  closeSync,
  mkdirSync,
  realpathSync,
  rmSync,
  writeFileSync,
};
