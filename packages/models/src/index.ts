/**
 * @blastkit/models — model adapters that load real checkpoints, run on any core Backend, generate, and run
 * with linears replaced by structured matrices. Llama first (llama2.c and Hugging Face names).
 */

export {
  COMPRESS_METHODS,
  type CompressedModule,
  type CompressMethod,
  type CompressOptions,
  type CompressResult,
  compressLinears,
} from './compress/compress.js';
export { saveReferenceBlastLlama } from './compress/reference-format.js';
export {
  COMPRESSION_FORMAT_VERSION,
  type CompressionConfig,
  type OpenedLlama,
  openLlamaFolder,
  saveCompressedLlama,
  saveDenseLlama,
} from './compress/saved.js';
export { type GenerateOptions, generate } from './generate.js';
export { openHfLlama, readHfConfig, SafetensorsSource } from './hf/safetensors-source.js';
export { applyLinear, disposeLinear, type UploadedLinear, uploadLinear } from './linear.js';
export {
  LLAMA_LINEAR_SUFFIXES,
  type LlamaConfig,
  type LlamaRope3Scaling,
  llamaConfigFromHf,
  llamaConfigToHf,
  llamaWeightShapes,
  validateLlamaConfig,
} from './llama/config.js';
export { type LlamaKvCache, type LlamaLoadOptions, LlamaModel, ropeOptions } from './llama/model.js';
export { Llama2cCheckpoint } from './llama2c/checkpoint.js';
export {
  type DecodeOptions,
  type EncodeOptions,
  Llama2cTokenizer,
  TokenizerFormatError,
} from './llama2c/tokenizer.js';
export { layerIndex, type ModuleSelection, type RatioPattern, ratioFor, selectModules } from './select.js';
export { expectFiniteWeights, ModelFormatError, type TensorSource } from './tensor-source.js';
