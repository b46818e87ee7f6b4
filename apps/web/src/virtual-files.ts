/**
 * The files the page has (fetched from a URL or picked by the user), by path. The blastkit libraries read
 * models through `node:fs/promises`; in the browser that module is `./node/fs-promises.ts`, which reads from
 * here, so the same loaders (llama2.c checkpoints, tokenizers, safetensors folders) run unchanged.
 */
const files = new Map<string, Blob>();

/** Puts `blob` at `path` (absolute, '/'-separated), replacing what was there. */
export function putFile(path: string, blob: Blob): void {
  files.set(normalizePath(path), blob);
}

/** The blob at `path`, or undefined. */
export function getFile(path: string): Blob | undefined {
  return files.get(normalizePath(path));
}

/** Whether `path` is a folder: some file lives under it. */
export function isFolder(path: string): boolean {
  const prefix = `${normalizePath(path).replace(/\/$/, '')}/`;
  for (const key of files.keys()) if (key.startsWith(prefix)) return true;
  return false;
}

/** The names directly inside folder `path`. */
export function listFolder(path: string): string[] {
  const prefix = `${normalizePath(path).replace(/\/$/, '')}/`;
  const names = new Set<string>();
  for (const key of files.keys())
    if (key.startsWith(prefix)) names.add(key.slice(prefix.length).split('/')[0]);
  return [...names].sort();
}

/** Every file under folder `path`, by absolute path (what a Web Worker needs to open the same model). */
export function filesUnder(path: string): [string, Blob][] {
  const prefix = `${normalizePath(path).replace(/\/$/, '')}/`;
  return [...files].filter(([key]) => key.startsWith(prefix));
}

/** Forgets every file under folder `path`. */
export function removeFolder(path: string): void {
  for (const [key] of filesUnder(path)) files.delete(key);
}

function normalizePath(path: string): string {
  if (!path.startsWith('/')) throw new Error(`virtual files: '${path}' is not an absolute path`);
  return path.replace(/\/+/g, '/');
}

/** The error Node raises for a missing file, so callers that look at `code` behave as under Node. */
export function notFound(path: string, syscall: string): Error {
  const err = new Error(`ENOENT: no such file or directory, ${syscall} '${path}'`) as Error & {
    code: string;
  };
  err.code = 'ENOENT';
  return err;
}

/** What the page cannot do: write files (results are downloaded instead). */
export function unsupported(name: string): () => never {
  return () => {
    throw new Error(
      `${name} is not available in the browser (blastkit web reads files; it downloads results)`,
    );
  };
}
