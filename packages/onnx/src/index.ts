/**
 * @blastkit/onnx — export blastkit models to ONNX: Llama decoders with a KV cache in the layout transformers.js
 * loads, structured linears kept structured as standard ONNX ops, optional int8/int4 weights.
 */

export {
  exportLlamaOnnx,
  type LlamaExportInput,
  type LlamaExportOptions,
  type LlamaExportResult,
  ONNX_FILE_NAMES,
} from './export/llama-folder.js';
export { GraphBuilder, IR_VERSION, OPSET } from './graph/graph-builder.js';
export {
  BLAST_MIXINGS,
  type BlastMixing,
  emitLinear,
  type LinearInput,
  type LinearOptions,
} from './layers/linear.js';
export { WEIGHT_DTYPES, type WeightDtype } from './layers/quantize.js';
export { buildLlamaGraph, type LlamaGraph, type LlamaGraphOptions } from './llama/llama-graph.js';
export { DataType, decodeModel, encodeModel, type ModelProto } from './proto/model-proto.js';
export {
  argmax,
  loadOnnxRuntime,
  OnnxCausalLm,
  type OnnxDecoderShape,
  type OnnxKvCache,
  type OnnxSessionOptions,
} from './runtime/ort-causal-lm.js';
export { llama2cTokenizerJson } from './tokenizer/llama2c-tokenizer-json.js';
