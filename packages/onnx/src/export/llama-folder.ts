import { type LlamaConfig, llamaConfigToHf } from '@blastkit/models';
import { buildLlamaGraph } from '../llama/llama-graph.js';
import {
  buildForFolder,
  type OnnxExportInput,
  type OnnxExportOptions,
  type OnnxExportResult,
  writeOnnxFolder,
} from './onnx-folder.js';

/** A Llama to export: what `openModel` / `openLlamaFolder` give. */
export type LlamaExportInput = OnnxExportInput<LlamaConfig>;
export type LlamaExportOptions = OnnxExportOptions;
export type LlamaExportResult = OnnxExportResult;

/**
 * Writes the folder transformers.js loads for a Llama (`AutoModelForCausalLM.from_pretrained(dir)`):
 * `config.json` (model_type llama), `generation_config.json`, `tokenizer.json` + `tokenizer_config.json`, and
 * `onnx/model.onnx` (or `model_quantized.onnx` for q8, `model_q4.onnx` for q4). The folder appears at once with
 * blastkit's output marker, and only an absent, empty or blastkit-written folder is replaced.
 */
export async function exportLlamaOnnx(
  out: string,
  input: LlamaExportInput,
  options: LlamaExportOptions = {},
): Promise<LlamaExportResult> {
  const c = input.config;
  const { encoded, dtype, structured } = await buildForFolder('llama', buildLlamaGraph, input, options);
  return writeOnnxFolder(
    out,
    {
      encoded,
      dtype,
      structured,
      config: { ...llamaConfigToHf(c), use_cache: true },
      generation: {
        bos_token_id: c.bosTokenId ?? 1,
        eos_token_id: c.eosTokenIds ?? c.eosTokenId ?? 2,
        max_length: c.maxPositionEmbeddings,
      },
      ...(input.tokenizerPath ? { tokenizerPath: input.tokenizerPath } : {}),
      vocabSize: c.vocabSize,
      maxLength: c.maxPositionEmbeddings,
    },
    options,
  );
}
