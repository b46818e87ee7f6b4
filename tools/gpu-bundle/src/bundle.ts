import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

/** Packages that cannot be bundled: native code, loaded at run time from node_modules beside the bundle. */
const NATIVE = ['webgpu'];
/** Optional engines the GPU suites never load (TensorFlow's C API is ~0.9 GB and not on the GPU machine). */
const LEFT_OUT = [/^@tensorflow\/tfjs-node(-gpu)?$/];

export interface BundleResult {
  out: string;
  /** Bytes of every file under `out`. */
  bytes: number;
  files: number;
}

function sizeOf(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) {
      const s = sizeOf(p);
      bytes += s.bytes;
      files += s.files;
    } else {
      bytes += statSync(p).size;
      files++;
    }
  }
  return { bytes, files };
}

/**
 * Writes a folder that runs the bench app with no node_modules and no network: `main.js` and its chunks
 * (rolldown, every workspace package and pure-JS dependency inlined), `node_modules/webgpu` with only
 * this platform's dawn.node, `native/blastkit_cuda.node` where @blastkit/backend-cuda built its addon,
 * `python/torch_layers.py` (the PyTorch reference), and `run.sh`, which unpacks
 * carried Vulkan/EGL loader .debs when the machine has no libvulkan, then runs `node main.js "$@"`.
 * `benchDir` is the built apps/bench (its dist/ must exist).
 */
export async function bundleBench(benchDir: string, out: string): Promise<BundleResult> {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  await build({
    input: join(benchDir, 'dist', 'main.js'),
    platform: 'node',
    external: [...NATIVE, ...LEFT_OUT],
    logLevel: 'warn',
    output: { dir: out, format: 'esm', entryFileNames: 'main.js', chunkFileNames: 'chunk-[hash].js' },
  });
  // the conformance suite without vitest: 'vitest' resolved to the small runner beside this file
  const here = dirname(fileURLToPath(import.meta.url));
  await build({
    input: join(here, 'conformance-main.js'),
    platform: 'node',
    external: [...NATIVE, ...LEFT_OUT],
    resolve: { alias: { vitest: join(here, 'mini-vitest.js') } },
    logLevel: 'warn',
    output: {
      dir: out,
      format: 'esm',
      entryFileNames: 'conformance.js',
      chunkFileNames: 'conformance-[hash].js',
    },
  });
  const requireFromHere = createRequire(import.meta.url);
  cpSync(
    join(dirname(requireFromHere.resolve('@blastkit/core/package.json')), 'fixtures'),
    join(out, 'fixtures'),
    {
      recursive: true,
    },
  );
  // webgpu resolved the way the bench resolves it, then only what its index.js loads on this platform
  const requireFromBench = createRequire(join(benchDir, 'package.json'));
  const requireFromWebgpuBackend = createRequire(requireFromBench.resolve('@blastkit/backend-webgpu'));
  const webgpuDir = dirname(requireFromWebgpuBackend.resolve('webgpu'));
  const platformDir = `${process.platform}-${process.platform === 'darwin' ? 'universal' : process.arch}`;
  const target = join(out, 'node_modules', 'webgpu');
  mkdirSync(join(target, 'dist'), { recursive: true });
  for (const f of ['package.json', 'index.js', 'LICENSE.md'])
    copyFileSync(join(webgpuDir, f), join(target, f));
  cpSync(join(webgpuDir, 'dist', platformDir), join(target, 'dist', platformDir), {
    recursive: true,
    dereference: true,
  });
  // the CUDA addon, where this machine built one: @blastkit/backend-cuda is bundled, so run.sh points it here
  const cudaAddon = join(
    dirname(requireFromBench.resolve('@blastkit/backend-cuda/package.json')),
    'dist',
    'native',
    'blastkit_cuda.node',
  );
  if (existsSync(cudaAddon)) {
    mkdirSync(join(out, 'native'));
    copyFileSync(cudaAddon, join(out, 'native', 'blastkit_cuda.node'));
  }
  mkdirSync(join(out, 'python'));
  copyFileSync(join(benchDir, 'python', 'torch_layers.py'), join(out, 'python', 'torch_layers.py'));
  const runner = join(out, 'run.sh');
  writeFileSync(
    runner,
    `#!/usr/bin/env bash
# Runs the bundled bench (./run.sh gpu-layers --out DIR) or the conformance suite (./run.sh conformance).
# On a GPU machine whose image lacks the Vulkan loader, carry the loader .debs in a folder named by GL_DEBS
# (default: .gl beside this folder; see the device tool's README): they are unpacked first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
debs="\${GL_DEBS:-$here/../.gl}"
libs="$(ldconfig -p 2>/dev/null || true)"
if [[ "$libs" != *libvulkan* ]] && [ -d "$debs" ]; then
  for f in "$debs"/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
export BLASTKIT_CORE_FIXTURES="\${BLASTKIT_CORE_FIXTURES:-$here/fixtures}"
if [ -f "$here/native/blastkit_cuda.node" ]; then
  export BLASTKIT_CUDA_ADDON="\${BLASTKIT_CUDA_ADDON:-$here/native/blastkit_cuda.node}"
fi
# run.sh conformance [webgpu] [cuda]: the backend conformance suite; anything else: the bench
if [ "\${1:-}" = conformance ]; then
  shift
  exec node "$here/conformance.js" "$@"
fi
exec node "$here/main.js" "$@"
`,
  );
  chmodSync(runner, 0o755);
  return { out, ...sizeOf(out) };
}

/** `out` relative to the working directory, for messages. */
export const shown = (p: string) => relative(process.cwd(), p) || '.';
