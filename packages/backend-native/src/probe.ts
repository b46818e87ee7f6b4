import { availableParallelism } from 'node:os';
import { InvalidArgumentError } from '@blastkit/core';
import { loadAddon } from './native-addon.js';

/** Whether the native backend can run here, and if not, why. */
export interface NativeProbe {
  available: boolean;
  /**
   * Why not: "turned off by BLASTKIT_NATIVE=off", "BLASTKIT_NATIVE_ADDON=… does not exist", "no native build: …"
   * (with the build's own reason), "native addon failed to load: …".
   */
  reason?: string;
  /** The compiled variant that loaded: 'avx2', 'baseline', 'neon' or 'generic'. */
  variant?: string;
  /** Threads a backend created without options uses. */
  threads?: number;
  /** The file that loaded. */
  addonPath?: string;
  /** The Eigen version compiled in. */
  eigen?: string;
}

/**
 * The thread count to use: `requested`, else BLASTKIT_THREADS, else every core. Throws an InvalidArgumentError
 * naming the source when it is not an integer in [1, 1024].
 */
export function resolveThreads(requested?: number): number {
  const env = process.env.BLASTKIT_THREADS;
  const [value, source] =
    requested !== undefined
      ? [requested, 'threads option']
      : env !== undefined && env.trim() !== ''
        ? [Number(env), `BLASTKIT_THREADS=${env}`]
        : [availableParallelism(), 'core count'];
  if (!Number.isInteger(value) || value < 1 || value > 1024) {
    throw new InvalidArgumentError(`native backend: ${source} must be an integer in [1, 1024], got ${value}`);
  }
  return value;
}

/** Synchronous and never throws: whether the addon loads here, which variant, and how many threads it would use. */
export function probeNative(): NativeProbe {
  const load = loadAddon();
  if (!load.ok) return { available: false, reason: load.reason };
  let threads: number | undefined;
  try {
    threads = resolveThreads();
  } catch (err) {
    return {
      available: false,
      reason: (err as Error).message,
      variant: load.info.variant,
      addonPath: load.path,
    };
  }
  return {
    available: true,
    variant: load.info.variant,
    threads,
    addonPath: load.path,
    eigen: load.info.eigen,
  };
}
