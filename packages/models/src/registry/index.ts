export {
  type ArchitectureEntry,
  type CalibrationFeed,
  type CheckpointReader,
  type DecoderTraits,
  type LinearObserver,
  type LoadedModel,
  type LoadOptions,
  ModelInputError,
  type ModelTask,
  type OpenedCheckpoint,
  type OpenedModel,
} from './architecture.js';
export { ARCHITECTURES, architectureLabels, architectureNamed, architectureOf } from './architectures.js';
export { observeDecoder } from './decoder.js';
export { ditArchitecture } from './dit.js';
export { gpt2Architecture } from './gpt2.js';
export { isLlama, layered, llamaArchitecture } from './llama.js';
export { type LlamaFamilyEntryOptions, llamaFamilyEntry, windowTrait } from './llama-family.js';
export { mistralArchitecture } from './mistral.js';
export {
  batchRows,
  type CompressionInfo,
  denseExportSource,
  denseLinear,
  foldBiases,
  inBatches,
  linearCandidates,
  linearInputs,
  linearWeights,
  loadModel,
  observeLinearInputs,
  saveCompressedModel,
  saveDenseFolder,
  selectLinears,
} from './model-ops.js';
export { type OpenModelOptions, openModel } from './open.js';
export { phi3Architecture } from './phi3.js';
export { qwen2Architecture } from './qwen2.js';
export { vitArchitecture } from './vit.js';
