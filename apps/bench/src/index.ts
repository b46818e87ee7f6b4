/**
 * @blastkit/bench — blastkit's benchmark suites as a library: the suite registry, `runSuite(name, options)` and
 * the report renderer. Every suite resolves to plain JSON; `blastkit bench` and `pnpm bench` print it.
 */
export {
  runSuite,
  SUITES,
  type Suite,
  type SuiteOptions,
  type SuiteResult,
  SuiteUsageError,
  suiteNames,
  UnknownSuiteError,
} from './registry.js';
export { renderReport, renderSuite, svgLinePlot } from './report.js';
export {
  KERNEL_METHODS,
  type KernelBackendInfo,
  type KernelMethod,
  type KernelReference,
  type KernelRow,
  type KernelShape,
  type KernelsOptions,
  type KernelsResult,
  kernelShape,
  measureBackend,
  runKernels,
} from './suites/kernels.js';
