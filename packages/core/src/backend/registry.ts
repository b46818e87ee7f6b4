import { CpuBackend } from '../cpu/cpu-backend.js';
import type { Backend, BackendDescription } from './backend.js';

/**
 * One entry per backend `--backend` can name. The built-in reference is constructed here; the others live in
 * their own optional packages, each exporting `createBackend(options?): Promise<Backend>`, and are imported
 * only when asked for.
 */
export interface BackendEntry {
  /** The name users pass: `--backend NAME` (or `NAME:VARIANT` where `variant` is set). */
  name: string;
  /** The package that provides it; absent for the built-in TypeScript reference. */
  package?: string;
  /** The createBackend option that `NAME:VARIANT` sets, e.g. tfjs' `engine`. */
  variant?: string;
  /** One line for help texts and doctor. */
  summary: string;
}

export const BACKENDS: readonly BackendEntry[] = [
  {
    name: 'native',
    package: '@blastkit/backend-native',
    summary: 'compiled CPU backend: Eigen and a thread pool',
  },
  { name: 'cpu', summary: 'the TypeScript reference backend: slow, exact, always there' },
  {
    name: 'webgpu',
    package: '@blastkit/backend-webgpu',
    summary: 'WebGPU (Dawn in Node, navigator.gpu in browsers)',
  },
  {
    name: 'tfjs',
    package: '@blastkit/backend-tfjs',
    variant: 'engine',
    summary: 'TensorFlow.js, its best engine',
  },
  { name: 'cuda', package: '@blastkit/backend-cuda', summary: 'CUDA: cuBLAS and our kernels (NVIDIA GPUs)' },
];

/**
 * What `--backend auto` tries, in order: the compiled CPU backend, then the reference. GPU backends are never
 * picked silently: a software adapter would be slower than the CPU, and a user asks for a GPU by name.
 */
export const AUTO_BACKENDS = ['native', 'cpu'] as const;

export const BACKEND_NAMES: readonly string[] = ['auto', ...BACKENDS.map((b) => b.name)];

/** Raised when a named backend cannot be had here; the message says why and what to use instead. */
export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
}

/**
 * Imports one backend package. The packages are optional dependencies of the application (the CLI, the
 * bench), not of core, so the import must be resolved from the application: it passes its own `import`.
 */
export type BackendImporter = (pkg: string) => Promise<Record<string, unknown>>;

export interface OpenedBackend {
  backend: Backend;
  description: BackendDescription;
  /** For `auto`: each backend tried before the one that answered, and why it did not. */
  passedOver: { name: string; reason: string }[];
}

// llvmpipe/lavapipe/softpipe (Mesa), SwiftShader, WARP: GPU APIs served by the CPU
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|\bwarp\b|microsoft basic render/i;

/** Whether an adapter's description names a CPU rasterizer rather than a GPU. */
export function isSoftwareAdapter(adapterDescription: string): boolean {
  return SOFTWARE_ADAPTER.test(adapterDescription);
}

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0];

/**
 * Opens the backend `spec` names: `auto`, a name from BACKENDS, or `NAME:VARIANT`. Throws
 * BackendUnavailableError saying why when it cannot be had (for `auto` never: the reference always answers).
 */
export async function openBackend(spec: string, importer: BackendImporter): Promise<OpenedBackend> {
  if (spec === 'auto') {
    const passedOver: OpenedBackend['passedOver'] = [];
    for (const name of AUTO_BACKENDS) {
      try {
        const opened = await openBackend(name, importer);
        return { ...opened, passedOver };
      } catch (err) {
        passedOver.push({ name, reason: firstLine(err) });
      }
    }
    throw new BackendUnavailableError(
      `--backend auto: no backend answered (${passedOver.map((p) => `${p.name}: ${p.reason}`).join('; ')})`,
    );
  }
  const colon = spec.indexOf(':');
  const [base, variant] = colon < 0 ? [spec, undefined] : [spec.slice(0, colon), spec.slice(colon + 1)];
  const entry = BACKENDS.find((b) => b.name === base);
  if (entry === undefined)
    throw new BackendUnavailableError(
      `--backend: unknown backend '${spec}' (known: ${BACKEND_NAMES.join(', ')})`,
    );
  if (variant !== undefined && (entry.variant === undefined || variant === '')) {
    throw new BackendUnavailableError(
      entry.variant === undefined
        ? `--backend ${spec}: '${base}' takes no ':${variant}' variant`
        : `--backend ${spec}: empty ${entry.variant} after '${base}:'`,
    );
  }
  if (entry.package === undefined) {
    const backend = new CpuBackend();
    return { backend, description: backend.describe(), passedOver: [] };
  }
  let mod: Record<string, unknown>;
  try {
    mod = await importer(entry.package);
  } catch (err) {
    throw new BackendUnavailableError(
      `--backend ${spec}: ${entry.package} cannot be loaded (${firstLine(err)})`,
    );
  }
  const create = mod.createBackend as ((options?: Record<string, unknown>) => Promise<Backend>) | undefined;
  if (typeof create !== 'function')
    throw new BackendUnavailableError(`--backend ${spec}: ${entry.package} does not export createBackend()`);
  let backend: Backend;
  try {
    backend = await create(variant !== undefined && entry.variant ? { [entry.variant]: variant } : undefined);
  } catch (err) {
    throw new BackendUnavailableError(
      `--backend ${spec}: not available on this machine: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return { backend, description: backend.describe(), passedOver: [] };
}

/** The description in one line: "native: Eigen 3.4.0 (avx2+fma), 2 threads" or "webgpu (software): …". */
export function formatBackendDescription(d: BackendDescription): string {
  return `${d.name}${d.software ? ' (software adapter: not a GPU)' : ''}: ${d.engine}`;
}
