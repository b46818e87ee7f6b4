/**
 * @blastkit/onnx — export blastkit models to ONNX: Llama and GPT-2 decoders with a KV cache and ViT classifiers,
 * in the layout transformers.js loads, structured linears kept structured as standard ONNX ops, optional
 * int8/int4 weights.
 */

export {
  exportOnnx,
  hasOnnxExport,
  ONNX_EXPORTERS,
  type OnnxArchitecture,
  type OnnxExportAnyInput,
} from './export/exporters.js';
export {
  exportLlamaOnnx,
  type LlamaExportInput,
  type LlamaExportOptions,
  type LlamaExportResult,
} from './export/llama-folder.js';
export {
  encodeForFolder,
  ONNX_FILE_NAMES,
  type OnnxExportInput,
  type OnnxExportOptions,
  type OnnxExportResult,
  writeOnnxFolder,
} from './export/onnx-folder.js';
export { exportGpt2Onnx, gpt2ConfigToHf } from './gpt2/gpt2-export.js';
export { buildGpt2Graph, type Gpt2Graph, type Gpt2GraphOptions } from './gpt2/gpt2-graph.js';
export { FLOAT16_MAX, fromFloat16, toFloat16 } from './graph/float16.js';
export {
  type EncodedModel,
  EXTERNAL_DATA_THRESHOLD,
  type ExternalDataOptions,
  type FloatType,
  GraphBuilder,
  type GraphBuilderOptions,
  IR_VERSION,
  OPSET,
} from './graph/graph-builder.js';
export {
  BLAST_MIXINGS,
  type BlastMixing,
  blastMixingFor,
  DEFAULT_BLAST_MIXING,
  emitLinear,
  emitLinearsOfOneInput,
  type LinearInput,
  type LinearOptions,
  PER_BLOCK_MIN_ELEMENTS,
} from './layers/linear.js';
export { WEIGHT_DTYPES, type WeightDtype } from './layers/quantize.js';
export { buildLlamaGraph, type LlamaGraph, type LlamaGraphOptions } from './llama/llama-graph.js';
export { DataType, decodeModel, encodeModel, type GraphProto, type ModelProto } from './proto/model-proto.js';
export { type OnnxFolderInfo, readOnnxFolder } from './runtime/onnx-folder-info.js';
export {
  argmax,
  loadOnnxRuntime,
  OnnxCausalLm,
  type OnnxDecoderShape,
  type OnnxKernelTime,
  type OnnxKvCache,
  type OnnxSessionOptions,
} from './runtime/ort-causal-lm.js';
export { llama2cTokenizerJson } from './tokenizer/llama2c-tokenizer-json.js';
export {
  exportVitOnnx,
  type VitExportInput,
  vitConfigToHf,
  vitDefaultPreprocessor,
} from './vit/vit-export.js';
export { buildVitGraph, type VitGraph, type VitGraphOptions } from './vit/vit-graph.js';
