import {
  BACKEND_NAMES,
  type Backend,
  BackendUnavailableError,
  formatBackendDescription,
  type OpenedBackend,
  openBackend,
} from '@blastkit/core';
import { UsageError } from './errors.js';

export { BACKEND_NAMES };

// a variable specifier: the backend packages are optional dependencies of the CLI, resolved from here
const importFromCli = async (pkg: string) => (await import(pkg)) as Record<string, unknown>;

/**
 * Opens the backend `--backend` names (core's backend registry: `auto`, `native`, `cpu`, `webgpu`, `tfjs[:engine]`,
 * `cuda`), or throws a UsageError that says why it cannot be had.
 */
export async function openCliBackend(spec: string): Promise<OpenedBackend> {
  try {
    return await openBackend(spec, importFromCli);
  } catch (err) {
    if (err instanceof BackendUnavailableError)
      throw new UsageError(
        `${err.message}${spec === 'cpu' || spec === 'auto' ? '' : '; use --backend auto or cpu'}`,
      );
    throw err;
  }
}

/** The backend `--backend` names; see openCliBackend. */
export async function resolveBackend(spec: string): Promise<Backend> {
  return (await openCliBackend(spec)).backend;
}

/**
 * One line for progress output: what answered and, for `auto`, why the backends before it did not, e.g.
 * "backend: cpu: TypeScript reference … (native passed over: addon not built: …)".
 */
export function backendLine(opened: OpenedBackend): string {
  const over = opened.passedOver.map((p) => `${p.name} passed over: ${p.reason}`).join('; ');
  return `backend ${formatBackendDescription(opened.description)}${over ? ` (${over})` : ''}`;
}
