/**
 * @blastkit/train — differentiable structured layers (BLAST, low-rank, Monarch, dense) on TensorFlow.js,
 * AdamW with a cosine schedule, a resumable training loop and re-training of compressed models by distillation.
 */
export * from './distill/distill.js';
export * from './distill/evaluate.js';
export * from './distill/loss.js';
export * from './distill/retrain.js';
export * from './distill/step-time.js';
export { ensureGradients } from './engine/gradients.js';
export { selectTrainEngine, type TrainEngine } from './engine/select.js';
export * from './layers.js';
export { type SampleOptions, sampleSequences, sampleTopP } from './llama/sample.js';
export { type TfDecodeCache, TfLlama, type TfLlamaLoadOptions } from './llama/tf-llama.js';
export { matMul } from './ops.js';
export * from './optim.js';
export * from './scratch/index.js';
export * from './train/checkpoint.js';
export * from './train/loop.js';
