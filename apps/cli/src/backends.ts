import { type Backend, CpuBackend } from '@blastkit/core';
import { UsageError } from './errors.js';

/**
 * Backends by the name users pass to `--backend`. `cpu` is built in; the GPU backends live in their own
 * optional packages, loaded only when asked for, and each exports `createBackend(): Promise<Backend>`.
 */
const OPTIONAL_BACKENDS: Record<string, string> = {
  webgpu: '@blastkit/backend-webgpu',
  tfjs: '@blastkit/backend-tfjs',
  cuda: '@blastkit/backend-cuda',
};

export const BACKEND_NAMES = ['cpu', ...Object.keys(OPTIONAL_BACKENDS)];

/** The backend named `name`, or a UsageError that says why it cannot be had. */
export async function resolveBackend(name: string): Promise<Backend> {
  if (name === 'cpu') return new CpuBackend();
  const pkg = OPTIONAL_BACKENDS[name];
  if (pkg === undefined)
    throw new UsageError(`--backend: unknown backend '${name}' (known: ${BACKEND_NAMES.join(', ')})`);
  let mod: { createBackend?: () => Promise<Backend> };
  try {
    mod = await import(pkg);
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new UsageError(`--backend ${name}: ${pkg} cannot be loaded (${why}); use --backend cpu`);
  }
  if (typeof mod.createBackend !== 'function')
    throw new UsageError(`--backend ${name}: ${pkg} does not export createBackend()`);
  try {
    return await mod.createBackend();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new UsageError(`--backend ${name}: not available on this machine: ${why}`);
  }
}
