import { type Backend, CpuBackend } from '@blastkit/core';
import { UsageError } from './errors.js';

/**
 * Backends by the name users pass to `--backend`. `cpu` is built in; the GPU backends live in their own
 * optional packages, loaded only when asked for, and each exports `createBackend(options?): Promise<Backend>`.
 * A backend with a `variant` option also takes `--backend NAME:VARIANT`, e.g. `tfjs:wasm` (the engine).
 */
const OPTIONAL_BACKENDS: Record<string, { pkg: string; variant?: string }> = {
  webgpu: { pkg: '@blastkit/backend-webgpu' },
  tfjs: { pkg: '@blastkit/backend-tfjs', variant: 'engine' },
  cuda: { pkg: '@blastkit/backend-cuda' },
};

export const BACKEND_NAMES = ['cpu', ...Object.keys(OPTIONAL_BACKENDS)];

/** The backend named `name` (optionally `name:variant`), or a UsageError that says why it cannot be had. */
export async function resolveBackend(name: string): Promise<Backend> {
  if (name === 'cpu') return new CpuBackend();
  const [base, variant] = name.includes(':')
    ? [name.slice(0, name.indexOf(':')), name.slice(name.indexOf(':') + 1)]
    : [name];
  const entry = OPTIONAL_BACKENDS[base];
  if (entry === undefined)
    throw new UsageError(`--backend: unknown backend '${name}' (known: ${BACKEND_NAMES.join(', ')})`);
  if (variant !== undefined && (entry.variant === undefined || variant === '')) {
    throw new UsageError(
      entry.variant === undefined
        ? `--backend ${name}: '${base}' takes no ':${variant}' variant`
        : `--backend ${name}: empty ${entry.variant} after '${base}:'`,
    );
  }
  let mod: { createBackend?: (options?: Record<string, unknown>) => Promise<Backend> };
  try {
    mod = await import(entry.pkg);
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new UsageError(`--backend ${name}: ${entry.pkg} cannot be loaded (${why}); use --backend cpu`);
  }
  if (typeof mod.createBackend !== 'function')
    throw new UsageError(`--backend ${name}: ${entry.pkg} does not export createBackend()`);
  try {
    return await mod.createBackend(
      variant !== undefined && entry.variant ? { [entry.variant]: variant } : undefined,
    );
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new UsageError(`--backend ${name}: not available on this machine: ${why}; use --backend cpu`);
  }
}
