/**
 * @blastkit/bench — blastkit's benchmark suites as a library: the suite registry, `runSuite(name, options)` and
 * the report renderer (each suite renders its own section). Every suite resolves to plain JSON; `blastkit bench` and `pnpm bench` print it.
 */
export { formatNumber } from './report/format.js';
export { renderReport, renderSuite } from './report/page.js';
export { niceTicks, svgBarChart, svgLinePlot } from './report/plot.js';
export { table } from './report/table.js';
export {
  defineSuite,
  runSuite,
  type Section,
  SUITES,
  type Suite,
  type SuiteOptions,
  type SuiteResult,
  SuiteUsageError,
  suiteNames,
  UnknownSuiteError,
} from './suites/index.js';
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
