/**
 * The suite registry: the one place a benchmark suite is added. `pnpm bench`, `blastkit bench` and the package's
 * `runSuite` all read it. Each suite module is imported only when that suite runs, so listing suites or running
 * one does not load the others' dependencies (models, tfjs…).
 */

import { SuiteUsageError } from './errors.js';

export { SuiteUsageError };

/** What every suite accepts; a suite ignores what it has no use for. */
export interface SuiteOptions {
  /** Small shapes, few steps: the size the tests run, seconds instead of minutes. */
  quick?: boolean;
  /** The long variant where a suite has one (factorize-cpu: adds 1024×1024, minutes per solver). */
  full?: boolean;
  /** Progress lines, for stderr (default: none). */
  log?: (line: string) => void;
  /** Which backends a suite that compares backends runs on (kernels: cpu, webgpu, tfjs, tfjs:<engine>). */
  backends?: readonly string[];
}

export interface Suite {
  /** One line for `--list`. */
  description: string;
  /** Runs the suite and resolves to its JSON result (an object with a `suite` field naming it). */
  run(options: SuiteOptions): Promise<SuiteResult>;
}

/** A suite's result: plain JSON, `suite` naming the suite (the report picks its renderer by it). */
export type SuiteResult = { suite: string } & Record<string, unknown>;

// each suite returns its own typed result; the registry only promises JSON with a `suite` name
const asResult = (r: unknown) => r as SuiteResult;

export const SUITES: Record<string, Suite> = {
  'core-cpu': {
    description: 'CPU GEMM GFLOP/s; BLAST vs dense vs low-rank layer apply at ~50% parameters',
    run: async ({ quick }) => asResult((await import('./suites/core-cpu.js')).runCoreCpu({ quick })),
  },
  'cpu-native': {
    description:
      'native CPU backend vs NumPy/OpenBLAS GEMM, onnxruntime-node MatMul, llama2.c decode and our dense layers; the targets of issue 16 (--full adds factorization and a 10,000-step memory run)',
    run: async ({ quick, full, log }) =>
      asResult(await (await import('./suites/cpu-native.js')).runCpuNative({ quick, full, log })),
  },
  kernels: {
    description:
      'dense vs BLAST vs low-rank vs Monarch forwards per backend (cpu, webgpu, tfjs) and layer shape, N = 1 and 256',
    run: async ({ quick, log, backends }) =>
      asResult(await (await import('./suites/kernels.js')).runKernels({ quick, log, backends })),
  },
  'gpu-layers': {
    description:
      'GPU (WebGPU): dense vs BLAST vs low-rank at Llama-7B layer shapes, N = 1…2048, GEMM TFLOP/s, stories15M decode, beside the PyTorch reference; the targets of issue 6',
    run: async ({ quick, log, backends }) =>
      asResult(await (await import('./suites/gpu-layers.js')).runGpuLayers({ quick, log, backends })),
  },
  'factorize-cpu': {
    description: 'time to error: faithful PrecGD vs the fast solver on 768×288 (--full adds 1024×1024)',
    run: async ({ quick, full }) =>
      asResult(await (await import('./suites/factorize-cpu.js')).runFactorizeCpu({ quick, full })),
  },
  'convergence-cpu': {
    description: "the paper's convergence figure: PrecGD vs GD on an exact BLAST target",
    run: async ({ quick }) =>
      asResult(await (await import('./suites/convergence-cpu.js')).runConvergenceCpu({ quick })),
  },
  'models-cpu': {
    description:
      'stories15M dense vs BLAST vs low-rank: prefill time and decode tokens/s (fetches stories15M)',
    run: async ({ quick }) =>
      asResult(await (await import('./suites/models-cpu.js')).runModelsCpu({ quick })),
  },
  'onnx-cpu': {
    description:
      'stories15M exported to ONNX, dense vs BLAST-50%, on onnxruntime-node (1 and 2 threads): decode tok/s, 256-token prefill; 4096² BLAST layer per mixing formulation vs dense MatMul, N = 1 and 256',
    run: async ({ quick, log }) =>
      asResult(await (await import('./suites/onnx-cpu.js')).runOnnxCpu({ quick, log })),
  },
  'quality-cpu': {
    description: 'stories15M at 20% and 50% reduction, every structure: perplexity, KL, top-1 (~12 min)',
    run: async ({ quick }) =>
      asResult(await (await import('./suites/quality-cpu.js')).runQualityCpu({ quick })),
  },
  'retrain-cpu': {
    description:
      'stories15M BLAST-50% re-trained by distillation (<30 min): perplexity gap closed, step time vs dense',
    run: async ({ quick, full, log }) =>
      asResult(await (await import('./suites/retrain-cpu.js')).runRetrainCpu({ quick, full, log })),
  },
  'train-step-cpu': {
    description:
      'training step time, dense vs low-rank vs Monarch vs BLAST at 50% parameters: stories15M shapes and width 2048 (~10 min)',
    run: async ({ quick, log }) =>
      asResult(await (await import('./suites/train-step-cpu.js')).runTrainStepCpu({ quick, log })),
  },
  'scratch-cpu': {
    description:
      'ViT on MNIST (6 epochs) and GPT on text trained from scratch: dense vs low-rank vs Monarch vs BLAST (~45 min; --full: ViT dense vs BLAST for 10 epochs)',
    run: async ({ quick, full, log }) =>
      asResult(await (await import('./suites/scratch-cpu.js')).runScratchCpu({ quick, full, log })),
  },
};

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
