import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { modelRoute } from './server/model-route.js';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// The blastkit libraries were written for Node and read files through node:fs; in the page these modules are
// stand-ins over the files the page fetched or the user picked (src/virtual-files.ts).
const nodeStandIns = {
  'node:fs/promises': here('src/node/fs-promises.ts'),
  'node:fs': here('src/node/fs.ts'),
  'node:os': here('src/node/os.ts'),
  'node:crypto': here('src/node/crypto.ts'),
  'node:url': here('src/node/url.ts'),
  'node:path': here('src/node/path.ts'),
  webgpu: here('src/node/webgpu.ts'),
};

export default defineConfig({
  // relative asset URLs: the built folder works wherever it is served from
  base: './',
  resolve: {
    alias: Object.entries(nodeStandIns).map(([find, replacement]) => ({
      find: new RegExp(`^${find.replace('/', '\\/')}$`),
      replacement,
    })),
  },
  worker: { format: 'es' },
  build: { target: 'es2022', chunkSizeWarningLimit: 2048 },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
  plugins: [modelRoute({ folders: localFolders() })],
});

/** `BLASTKIT_WEB_MODELS=name=dir,name2=dir2` serves local model folders at /models/<name>/. */
function localFolders(): Record<string, string> {
  const spec = process.env.BLASTKIT_WEB_MODELS ?? '';
  return Object.fromEntries(
    spec
      .split(',')
      .filter((s) => s.includes('='))
      .map((s) => s.split('=', 2) as [string, string]),
  );
}
