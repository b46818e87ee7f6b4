/** `node:crypto` for the browser (a Vite alias): random bytes from Web Crypto; hashing is not offered. */
import { Buffer } from 'buffer';
import { unsupported } from '../virtual-files.js';

/** `n` random bytes. */
export function randomBytes(n: number): Buffer {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(n)));
}

export const createHash = unsupported('createHash');

export default { randomBytes, createHash };
