import * as tf from '@tensorflow/tfjs-core';
import { withTfjsWarningsOff } from './quiet.js';

/** The npm package of each native engine. */
export const NATIVE_PACKAGE = {
  'tfjs-node': '@tensorflow/tfjs-node',
  'tfjs-node-gpu': '@tensorflow/tfjs-node-gpu',
} as const;
export type NativeEngineName = keyof typeof NATIVE_PACKAGE;

/** Environment variable naming a folder where tools/tfjs-node/stage.sh installed the native packages. */
export const STAGED_DIR_ENV = 'BLASTKIT_TFJS_NODE_DIR';

export type NativeProbe =
  | { ok: true; detail: string; gpu: boolean }
  | { ok: false; reason: string /** the package loaded but TensorFlow sees no GPU */; cpuOnly?: boolean };

/** What the tfjs-node backend object exposes that this package reads (no types ship for it here). */
interface NodeBackendLike {
  isUsingGpuDevice?: boolean;
  binding?: { TF_Version?: string };
}

function isNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}

/** The folder stage.sh writes to by default: $BLASTKIT_CACHE_DIR, else $XDG_CACHE_HOME/blastkit, else ~/.cache/blastkit, plus /tfjs-node. */
export async function defaultStagedDir(): Promise<string> {
  const { homedir } = await import('node:os');
  const { join } = await import('node:path');
  const cache =
    process.env.BLASTKIT_CACHE_DIR ||
    join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'blastkit');
  return join(cache, 'tfjs-node');
}

/** Where native packages are looked for after normal module resolution: $BLASTKIT_TFJS_NODE_DIR, then the default. */
export async function stagedDirs(): Promise<string[]> {
  const dirs = [process.env[STAGED_DIR_ENV], await defaultStagedDir()].filter((d): d is string => !!d);
  return [...new Set(dirs)];
}

// One TensorFlow runtime per process: both packages register the tfjs backend 'tensorflow', and the first
// to load keeps it. Remember which one did, and the probe results, so later probes answer consistently.
let loadedNative: { engine: NativeEngineName; from: string; detail: string; gpu: boolean } | undefined;
const probes = new Map<NativeEngineName, NativeProbe>();

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

/**
 * Loads @tensorflow/tfjs-node or -gpu if it can be found — through normal module resolution from this
 * package, else from the staged folders — and says why not otherwise. Never throws: the native engines are
 * optional. Loading registers the tfjs backend 'tensorflow' (and makes it the active one, as tfjs-node does).
 */
export async function probeNative(engine: NativeEngineName): Promise<NativeProbe> {
  const cached = probes.get(engine);
  if (cached) return cached;
  const result = await probeNativeUncached(engine);
  probes.set(engine, result);
  return result;
}

async function probeNativeUncached(engine: NativeEngineName): Promise<NativeProbe> {
  const pkg = NATIVE_PACKAGE[engine];
  if (!isNode()) return { ok: false, reason: `${pkg} needs Node.js` };
  if (loadedNative) {
    if (loadedNative.engine === 'tfjs-node-gpu' && engine === 'tfjs-node' && !loadedNative.gpu) {
      // the -gpu addon found no GPU: it is the same TensorFlow runtime on the CPU, already loaded
      return { ok: true, gpu: false, detail: `${loadedNative.detail} (the tfjs-node-gpu addon, on the CPU)` };
    }
    return {
      ok: false,
      reason: `${NATIVE_PACKAGE[loadedNative.engine]} is already loaded in this process (one TensorFlow runtime per process)`,
    };
  }
  const { createRequire } = await import('node:module');
  const { join, dirname } = await import('node:path');
  const { readFileSync } = await import('node:fs');
  const places: { where: string; require: NodeJS.Require }[] = [
    { where: 'node_modules', require: createRequire(import.meta.url) },
  ];
  for (const dir of await stagedDirs()) {
    // createRequire only needs a path inside the folder to resolve from; the file need not exist
    places.push({ where: dir, require: createRequire(join(dir, 'package.json')) });
  }
  const misses: string[] = [];
  for (const place of places) {
    let main: string;
    try {
      main = place.require.resolve(pkg);
    } catch {
      misses.push(place.where);
      continue;
    }
    const pkgDir = dirname(dirname(main));
    let version = '?';
    try {
      // the staged package brings its own copy of tfjs-core; tfjs-core keeps its engine and kernel registry
      // on globalThis, so the copies share state, which is only sound for the same version
      const local = createRequire(main);
      version = JSON.parse(readFileSync(local.resolve(`${pkg}/package.json`), 'utf8')).version;
      const coreVersion = JSON.parse(
        readFileSync(local.resolve('@tensorflow/tfjs-core/package.json'), 'utf8'),
      ).version;
      if (coreVersion !== tf.version_core) {
        return {
          ok: false,
          reason: `${pkg} ${version} at ${pkgDir} uses @tensorflow/tfjs-core ${coreVersion}, this package ${tf.version_core}`,
        };
      }
    } catch (err) {
      return { ok: false, reason: `${pkg} at ${pkgDir} is incomplete: ${firstLine(err)}` };
    }
    const llvm = loadedSystemLlvm(readFileSync);
    if (llvm) {
      return {
        ok: false,
        reason: `${pkg} ${version} found at ${pkgDir} but not loaded: ${llvm} is already loaded in this process (Mesa's software rasterizer brings it when a WebGPU or OpenGL software adapter opens), and TensorFlow's library crashes the process (SIGSEGV) when loaded after it; select the native engine before opening a software adapter, or run it in another process`,
      };
    }
    const backend = await load(() => place.require(pkg));
    if (backend instanceof Error) {
      return {
        ok: false,
        reason: `${pkg} ${version} found at ${pkgDir} but did not load: ${firstLine(backend)} (its install script downloads libtensorflow, which fails offline; stage it with tools/tfjs-node/stage.sh)`,
      };
    }
    const tfVersion = backend.binding?.TF_Version ?? '?';
    const gpu = backend.isUsingGpuDevice === true;
    const detail = `TensorFlow ${tfVersion} C API through ${pkg} ${version} (${pkgDir}) on the ${gpu ? 'GPU' : 'CPU'}`;
    loadedNative = { engine, from: pkgDir, detail, gpu };
    if (engine === 'tfjs-node-gpu' && !gpu) {
      return {
        ok: false,
        cpuOnly: true,
        reason: `${detail}: TensorFlow lists no GPU device (tfjs-node-gpu 4.22 needs libtensorflow-gpu 2.9.1 with CUDA 11.2 and cuDNN 8.1)`,
      };
    }
    return { ok: true, detail, gpu };
  }
  return {
    ok: false,
    reason: `not installed (not resolvable from ${misses.map((m) => (m === 'node_modules' ? 'this package' : m)).join(', nor ')}); stage it with tools/tfjs-node/stage.sh or set ${STAGED_DIR_ENV}`,
  };
}

/**
 * A system LLVM library mapped into this process, if any (Linux only). Checked before loading TensorFlow:
 * with Mesa's libLLVM-15 loaded first (llvmpipe, for a software WebGPU adapter), loading TF 2.21's
 * libtensorflow_cc segfaults — reproduced here with nothing but LD_PRELOAD=libLLVM-15.so.1. The other order
 * works.
 */
function loadedSystemLlvm(read: typeof import('node:fs').readFileSync): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    return read('/proc/self/maps', 'utf8').match(/\/\S*\/libLLVM[-.\w]*\.so[.\d]*/)?.[0];
  } catch {
    return undefined;
  }
}

/** Requires the native package quietly; returns the 'tensorflow' backend object, or the error. */
async function load(require: () => unknown): Promise<NodeBackendLike | Error> {
  // TensorFlow's C++ INFO lines (oneDNN notes, CPU feature hints) are noise for users; warnings stay
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '1';
  try {
    await withTfjsWarningsOff(require);
    const backend = tf.findBackend('tensorflow');
    if (!backend) return new Error("it registered no 'tensorflow' backend");
    return backend as unknown as NodeBackendLike;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}
