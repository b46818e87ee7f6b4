export { BACKEND_NAMES, resolveBackend } from './backends.js';
export {
  type CompressCommandOptions,
  type CompressCommandResult,
  formatCompress,
  runCompress,
} from './commands/compress.js';
export { type DoctorResult, formatDoctor, runDoctor } from './commands/doctor.js';
export { type EvalCommandOptions, type EvalCommandResult, formatEval, runEval } from './commands/eval.js';
export { type ExportCommandOptions, runExport } from './commands/export.js';
export {
  FACTORIZE_METHODS,
  FACTORS_FORMAT,
  type FactorizeCommandOptions,
  type FactorizeCommandResult,
  type FactorizeMethod,
  formatFactorize,
  runFactorize,
} from './commands/factorize.js';
export { runFetch } from './commands/fetch.js';
export { type GenerateCommandOptions, type GenerateCommandResult, runGenerate } from './commands/generate.js';
export { formatInspect, type InspectResult, runInspect } from './commands/inspect.js';
export { type DemoOptions, type DemoResult, formatDemo, runDemo } from './demo.js';
export { EXIT, InterruptedError, UsageError } from './errors.js';
export { readMatrixArgument } from './io/matrix-input.js';
export { type ModelArgument, openModelArgument } from './io/model-input.js';
export { buildProgram, type ProgramIo } from './program.js';
export { ProgressLine } from './progress.js';
