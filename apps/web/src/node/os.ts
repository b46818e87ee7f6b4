/** `node:os` for the browser (a Vite alias): only what the safetensors reader asks. */

/** The byte order of this machine, as Node's `os.endianness()`. */
export function endianness(): 'LE' | 'BE' {
  return new Uint8Array(Uint16Array.of(1).buffer)[0] === 1 ? 'LE' : 'BE';
}

export function cpus(): unknown[] {
  return Array.from({ length: navigator.hardwareConcurrency || 1 }, () => ({}));
}

export default { endianness, cpus };
