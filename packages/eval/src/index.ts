/**
 * @blastkit/eval — how much a compressed model lost: sliding-window perplexity, KL divergence and top-1
 * agreement against the dense model, per-layer output error, image-classification accuracy and agreement, DiT
 * noise-prediction error and sample agreement — with the evaluation protocol written into every result, and
 * every result expressible as a JSON record (`evalRecord`).
 */

export {
  type BudgetAllocation,
  type CompressToBudgetOptions,
  type CompressToBudgetResult,
  compressToBudget,
  type LoadCandidate,
  moduleSensitivity,
  planBySensitivity,
  RANKED,
  type SensitivityPlan,
  type SensitivityPlanOptions,
  type SensitivityProbe,
  truncationTail,
} from './budget.js';
export {
  calibrationLayout,
  calibrationSequences,
  seededCalibration,
  seededTokens,
} from './calibration.js';
export { type CausalLm, logProbabilities } from './causal-lm.js';
export {
  type Accuracy,
  type ClassificationOptions,
  type ClassificationProtocol,
  type ClassificationResult,
  classificationMetrics,
  type ImageClassifier,
  seededImages,
} from './classification.js';
export {
  compareDecoders,
  type DecoderComparison,
  type DecoderComparisonOptions,
  type TimedContinuation,
} from './compare-decoders.js';
export {
  type NoisePredictionInputs,
  type NoisePredictionOptions,
  type NoisePredictionProtocol,
  type NoisePredictionResult,
  noisedLatentFeed,
  noisedLatents,
  noisePredictionError,
  type SampleAgreementOptions,
  type SampleAgreementProtocol,
  type SampleAgreementResult,
  sampleAgreement,
  seededNoiseInputs,
} from './diffusion.js';
export {
  type CausalLmInputs,
  type DiffusionInputs,
  type EvaluateOptions,
  type EvaluationResult,
  evalBudget,
  evaluate,
  type ImageClassificationInputs,
  type LoadedDecoder,
  type TaskInputs,
} from './evaluate.js';
export {
  type LayerErrorOptions,
  type LayerErrorProtocol,
  type LayerErrorResult,
  type LinearOutputError,
  linearOutputErrors,
} from './layer-error.js';
export {
  bootstrapComparison,
  type ComparisonIntervals,
  type ComparisonResult,
  compareModels,
  compareModelsOnSequences,
  defaultProtocol,
  type PerplexityResult,
  perplexity,
  summarizeWindows,
  type WindowRunOptions,
  type WindowSums,
} from './metrics.js';
export {
  EVAL_METRICS,
  type EvalBudget,
  type EvalContext,
  type EvalMetric,
  type EvalRecord,
  evalRecord,
} from './record.js';
export { psnr, topK } from './stats.js';
export { slidingWindows, type Window, type WindowProtocol } from './windows.js';
