/**
 * The core-cpu suite as data: what it measures and how it runs (./core-cpu.ts, imported when run). It has no
 * renderer of its own: the report shows its result as JSON.
 */
import type { runCoreCpu } from './core-cpu.js';
import { defineSuite } from './suite.js';

/** What a core-cpu run records (the type its renderer reads). */
export type CoreCpuResult = Awaited<ReturnType<typeof runCoreCpu>>;

export const CORE_CPU_SUITE = defineSuite<CoreCpuResult>({
  name: 'core-cpu',
  description: 'CPU GEMM GFLOP/s; BLAST vs dense vs low-rank layer apply at ~50% parameters',
  run: async ({ quick }) => (await import('./core-cpu.js')).runCoreCpu({ quick }),
});
