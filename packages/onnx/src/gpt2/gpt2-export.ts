import type { Gpt2Config } from '@blastkit/models';
import {
  buildForFolder,
  type OnnxExportInput,
  type OnnxExportOptions,
  type OnnxExportResult,
  writeOnnxFolder,
} from '../export/onnx-folder.js';
import { buildGpt2Graph } from './gpt2-graph.js';

/** config.json of a GPT2LMHeadModel for `c` (transformers' names; what transformers.js reads). */
export function gpt2ConfigToHf(c: Gpt2Config): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    n_embd: c.nEmbd,
    n_layer: c.nLayer,
    n_head: c.nHead,
    n_inner: c.nInner,
    n_positions: c.nPositions,
    n_ctx: c.nPositions,
    vocab_size: c.vocabSize,
    layer_norm_epsilon: c.layerNormEpsilon,
    activation_function: c.activationFunction,
    scale_attn_weights: c.scaleAttnWeights,
    scale_attn_by_inverse_layer_idx: c.scaleAttnByInverseLayerIdx,
    reorder_and_upcast_attn: c.reorderAndUpcastAttn,
    tie_word_embeddings: c.tieWordEmbeddings,
    ...(c.bosTokenId !== undefined ? { bos_token_id: c.bosTokenId } : {}),
    ...(c.eosTokenId !== undefined ? { eos_token_id: c.eosTokenIds ?? c.eosTokenId } : {}),
    use_cache: true,
  };
}

/**
 * Writes the folder transformers.js loads for a GPT-2 (`AutoModelForCausalLM.from_pretrained(dir)`):
 * `config.json` (model_type gpt2), `generation_config.json`, the tokenizer files when given, and
 * `onnx/model.onnx` (`model_quantized.onnx` for q8, `model_q4.onnx` for q4), a decoder with a KV cache.
 */
export async function exportGpt2Onnx(
  out: string,
  input: OnnxExportInput<Gpt2Config>,
  options: OnnxExportOptions = {},
): Promise<OnnxExportResult> {
  const c = input.config;
  const { encoded, dtype, structured } = await buildForFolder('gpt2', buildGpt2Graph, input, options);
  return writeOnnxFolder(
    out,
    {
      encoded,
      dtype,
      structured,
      config: gpt2ConfigToHf(c),
      generation: {
        ...(c.bosTokenId !== undefined ? { bos_token_id: c.bosTokenId } : {}),
        ...(c.eosTokenId !== undefined ? { eos_token_id: c.eosTokenIds ?? c.eosTokenId } : {}),
        max_length: c.nPositions,
      },
      ...(input.tokenizerPath ? { tokenizerPath: input.tokenizerPath } : {}),
    },
    options,
  );
}
