/**
 * The suite registry: the one place a benchmark suite is added (a `<name>.ts` that measures, a `<name>-suite.ts`
 * that declares it and renders its result, one line here). `pnpm bench`, `blastkit bench`, the package's
 * `runSuite` and the report all read it. A suite's measuring module is imported only when that suite runs, so
 * listing suites, running one or rendering the report does not load the others' dependencies (models, tfjs…).
 */

import { SuiteUsageError } from '../errors.js';
import { CONVERGENCE_CPU_SUITE } from './convergence-cpu-suite.js';
import { CORE_CPU_SUITE } from './core-cpu-suite.js';
import { CPU_NATIVE_SUITE } from './cpu-native-suite.js';
import { FACTORIZE_CPU_SUITE } from './factorize-cpu-suite.js';
import { GPU_LAYERS_SUITE } from './gpu-layers-suite.js';
import { KERNELS_SUITE } from './kernels-suite.js';
import { MODELS_CPU_SUITE } from './models-cpu-suite.js';
import { ONNX_CPU_SUITE } from './onnx-cpu-suite.js';
import { QUALITY_CPU_SUITE } from './quality-cpu-suite.js';
import { QUEUE_SCALE_SUITE } from './queue-scale-suite.js';
import { RETRAIN_CPU_SUITE } from './retrain-cpu-suite.js';
import { SCRATCH_CPU_SUITE } from './scratch-cpu-suite.js';
import type { Suite, SuiteOptions, SuiteResult } from './suite.js';
import { TRAIN_STEP_CPU_SUITE } from './train-step-cpu-suite.js';

export { defineSuite, type Section, type Suite, type SuiteOptions, type SuiteResult } from './suite.js';
export { SuiteUsageError };

/** Every suite, by name, in the order `blastkit bench` runs them all. */
export const SUITES: Record<string, Suite> = Object.fromEntries(
  [
    CORE_CPU_SUITE,
    CPU_NATIVE_SUITE,
    KERNELS_SUITE,
    GPU_LAYERS_SUITE,
    FACTORIZE_CPU_SUITE,
    CONVERGENCE_CPU_SUITE,
    MODELS_CPU_SUITE,
    ONNX_CPU_SUITE,
    QUALITY_CPU_SUITE,
    RETRAIN_CPU_SUITE,
    TRAIN_STEP_CPU_SUITE,
    SCRATCH_CPU_SUITE,
    QUEUE_SCALE_SUITE,
  ].map((s) => [s.name, s]),
);

/** The registered suite names, in registry order. */
export function suiteNames(): string[] {
  return Object.keys(SUITES);
}

/** Thrown by `runSuite` for a name that is not registered; the message lists the known ones. */
export class UnknownSuiteError extends SuiteUsageError {
  constructor(readonly suite: string) {
    super(`unknown suite '${suite}'; available: ${suiteNames().join(', ')}`);
    this.name = 'UnknownSuiteError';
  }
}

/** Runs one registered suite by name and resolves to its JSON result. */
export async function runSuite(name: string, options: SuiteOptions = {}): Promise<SuiteResult> {
  const suite = Object.hasOwn(SUITES, name) ? SUITES[name] : undefined;
  if (!suite) throw new UnknownSuiteError(name);
  return suite.run(options);
}
