import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fetchAsset } from '@blastkit/assets';
import type { Plugin } from 'vite';

/** Model assets the page may ask for by name (weights are never bundled; they come from the asset cache). */
const MODEL_ASSETS = ['stories15M'];

export interface ModelRouteOptions {
  /** Extra local folders to serve, by name: `/models/<name>/<file>` (e.g. a compressed model to open). */
  folders?: Record<string, string>;
}

/**
 * Serves `/models/<name>/<file>` to the page: `stories15M` through `@blastkit/assets`' pinned-hash fetch (the
 * cache in ~/.cache/blastkit, fetched on first use), and any folder named in `options.folders`. Only plain
 * file names inside those folders are served, and those in their onnx/ subfolder.
 */
export function modelRoute(options: ModelRouteOptions = {}): Plugin {
  const handle = async (req: IncomingMessage, res: ServerResponse, next: () => void) => {
    // a plain file name, or one under onnx/ (where an ONNX export keeps its graph)
    const match = /^\/models\/([^/]+)\/((?:onnx\/)?[^/?#]+)$/.exec(req.url?.split('?')[0] ?? '');
    if (!match || (req.method !== 'GET' && req.method !== 'HEAD')) return next();
    const [, name, file] = match.map(decodeURIComponent);
    const base = file.replace(/^onnx\//, '');
    if (base.startsWith('.') || base.includes('\\') || base.includes('/')) return next();
    let dir: string | undefined = options.folders?.[name];
    try {
      if (!dir && MODEL_ASSETS.includes(name)) {
        const files = await fetchAsset(name);
        const path = files[file];
        if (!path) return notFound(res, `no file '${file}' in model '${name}'`);
        dir = join(path, '..');
      }
      if (!dir) return notFound(res, `no model '${name}'`);
      const path = join(dir, file);
      const info = await stat(path).catch(() => undefined);
      if (!info?.isFile()) return notFound(res, `no file '${file}' in model '${name}'`);
      res.writeHead(200, {
        'content-type': base.endsWith('.json') ? 'application/json' : 'application/octet-stream',
        'content-length': String(info.size),
        'cache-control': 'no-store',
      });
      if (req.method === 'HEAD') return res.end();
      createReadStream(path).pipe(res);
    } catch (err) {
      res.statusCode = 500;
      res.end(`model route: ${(err as Error).message}`);
    }
  };
  return {
    name: 'blastkit-model-route',
    configureServer(server) {
      server.middlewares.use((req, res, next) => void handle(req, res, next));
    },
    configurePreviewServer(server) {
      server.middlewares.use((req, res, next) => void handle(req, res, next));
    },
  };
}

function notFound(res: ServerResponse, why: string): void {
  res.statusCode = 404;
  res.setHeader('content-type', 'text/plain');
  res.end(why);
}
