/**
 * @blastkit/eval — how much a compressed model lost: sliding-window perplexity, KL divergence and top-1
 * agreement against the dense model, with the evaluation protocol written into every result.
 */
export { type CausalLm, logProbabilities } from './causal-lm.js';
export {
  type ComparisonResult,
  compareModels,
  defaultProtocol,
  type PerplexityResult,
  perplexity,
} from './metrics.js';
export { slidingWindows, type Window, type WindowProtocol } from './windows.js';
