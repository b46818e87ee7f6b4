/**
 * Training from scratch with structured layers: a small ViT (MNIST) and a small GPT-2-style decoder (bytes of
 * text) whose attention and MLP projections are dense, low-rank, Monarch or BLAST `StructuredLinear`s at equal
 * parameter counts, trained with AdamW and a cosine schedule, deterministic and resumable.
 */
export { ByteTokenizer, type GptConfig, ScratchGpt } from './gpt.js';
export {
  epochOrder,
  evaluateVit,
  type ImageSplit,
  makeBatchSampler,
  trainVit,
} from './mnist-task.js';
export { crossEntropy, projectionSpec, type ScratchParam, type StructureSpec } from './nn.js';
export { evaluateGpt, splitTokens, type TextEvaluation, trainGpt } from './text-task.js';
export {
  type ScratchCheckpointOptions,
  type ScratchModel,
  type ScratchProgress,
  type ScratchRunOptions,
  type ScratchTrainOptions,
  type ScratchTrainResult,
  trainScratchSteps,
} from './trainer.js';
export { MNIST_MEAN, MNIST_STD, type ModelCounts, patchify, ScratchVit, type VitConfig } from './vit.js';
