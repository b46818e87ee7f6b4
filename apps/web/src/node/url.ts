/** `node:url` for the browser (a Vite alias). */

/** A file: URL for a path, as Node's. */
export function pathToFileURL(path: string): URL {
  return new URL(`file://${encodeURI(path)}`);
}

/** The path of a file: URL, as Node's. */
export function fileURLToPath(url: string | URL): string {
  return decodeURIComponent(new URL(url).pathname);
}

export default { pathToFileURL, fileURLToPath };
