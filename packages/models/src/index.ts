/**
 * @blastkit/models — model adapters that load real checkpoints, run on any core Backend, generate, and run
 * with linears replaced by structured matrices. Llama first (llama2.c and Hugging Face names).
 */

export * from './compress/budget-match.js';
export { collectLinearInputs } from './compress/calibration.js';
export {
  CALIBRATED_METHODS,
  COMPRESS_METHODS,
  type CompressedModule,
  type CompressMethod,
  type CompressOptions,
  type CompressResult,
  compressLinears,
  groupByBlock,
} from './compress/compress.js';
export {
  type CompressionRun,
  type CompressModelOptions,
  type CompressModelResult,
  compressModel,
  type PlannedModule,
} from './compress/pipeline.js';
export { type PlanOptions, planCompression } from './compress/plan.js';
export { saveReferenceBlastLlama } from './compress/reference-format.js';
export {
  COMPRESSION_FORMAT_VERSION,
  type CompressionConfig,
  describeStructure,
  type OpenedFolder,
  type OpenedLlama,
  openCompressedFolder,
  openLlamaFolder,
  saveCompressedFolder,
  saveCompressedLlama,
  saveDenseLlama,
} from './compress/saved.js';
export type { DecoderLm } from './decoder-lm.js';
export {
  DIT_FREQUENCY_EMBEDDING_SIZE,
  DIT_LINEAR_MODULES,
  DIT_PRESETS,
  type DitConfig,
  type DitDims,
  ditBlockLinearNames,
  ditConfigFromJson,
  ditConfigToJson,
  ditDims,
  ditLinearShapes,
  ditWeightShapes,
  validateDitConfig,
} from './dit/config.js';
export {
  type DitForwardOptions,
  type DitLoadOptions,
  DitModel,
  openDitFolder,
  timestepEmbedding,
} from './dit/model.js';
export {
  type DdimOptions,
  type DdimSchedule,
  type DdpmOptions,
  type DitDenoiser,
  ddimSample,
  ddimSchedule,
  ddpmSample,
  linearBetaSchedule,
  spaceTimesteps,
} from './dit/sampler.js';
export { type GenerateOptions, generate } from './generate.js';
export {
  GPT2_LINEAR_MODULES,
  type Gpt2Config,
  gpt2ConfigFromHf,
  gpt2LinearDims,
  gpt2WeightShapes,
} from './gpt2/config.js';
export {
  type Gpt2ForwardOptions,
  type Gpt2KvCache,
  type Gpt2LoadOptions,
  Gpt2Model,
  type Gpt2ModelConfig,
  gpt2AttentionScale,
  openHfGpt2,
} from './gpt2/model.js';
export { openHfLlama, readHfConfig, SafetensorsSource } from './hf/safetensors-source.js';
export { eosTokenIdsFromHf, stopTokenIds } from './hf/special-tokens.js';
export { HfTokenizer, type TextTokenizer } from './hf/tokenizer.js';
export { applyLinear, disposeLinear, type UploadedLinear, uploadLinear } from './linear.js';
export {
  LLAMA_FUSED_LINEAR_SUFFIXES,
  LLAMA_LINEAR_SUFFIXES,
  type LlamaConfig,
  type LlamaFamilyType,
  type LlamaRope3Scaling,
  llamaConfigFromHf,
  llamaConfigToHf,
  llamaFamilyConfigFromHf,
  llamaFamilyConfigToHf,
  llamaLinearShapes,
  llamaLinearSuffixes,
  llamaWeightShapes,
  slidingWindowFromHf,
  validateLlamaConfig,
} from './llama/config.js';
export { openHfLlamaFamily } from './llama/hf-folder.js';
export {
  type LlamaForwardOptions,
  type LlamaKvCache,
  type LlamaLoadOptions,
  LlamaModel,
  ropeOptions,
  windowedAttention,
} from './llama/model.js';
export { Llama2cCheckpoint } from './llama2c/checkpoint.js';
export {
  type DecodeOptions,
  type EncodeOptions,
  Llama2cTokenizer,
  TokenizerFormatError,
} from './llama2c/tokenizer.js';
export { mistralConfigFromHf, mistralConfigToHf } from './mistral/config.js';
export { openHfMistral } from './mistral/hf-folder.js';
export { PHI3_LINEAR_SUFFIXES, phi3ConfigFromHf, phi3ConfigToHf } from './phi3/config.js';
export { openHfPhi3 } from './phi3/hf-folder.js';
export { QWEN2_BIASED_LINEARS, qwen2ConfigFromHf, qwen2ConfigToHf } from './qwen2/config.js';
export { openHfQwen2 } from './qwen2/hf-folder.js';
export * from './registry/index.js';
export { layerIndex, type ModuleSelection, type RatioPattern, ratioFor, selectModules } from './select.js';
export { expectFiniteWeights, ModelFormatError, type TensorSource } from './tensor-source.js';
export {
  VIT_LINEAR_MODULES,
  VIT_PATCH_PROJECTION,
  type VitConfig,
  vitConfigFromHf,
  vitGridSize,
  vitLinearShapes,
  vitSequenceLength,
  vitWeightShapes,
} from './vit/config.js';
export { openHfVit, patchify, type VitForwardOptions, type VitLoadOptions, VitModel } from './vit/model.js';
