import type { UnaryOp } from '@blastkit/core';
import { eosTokenIdsFromHf } from '../hf/special-tokens.js';
import { ModelFormatError } from '../tensor-source.js';

/** A GPT-2 model's shape and numerics, in Hugging Face's vocabulary (config.json of GPT2LMHeadModel). */
export interface Gpt2Config {
  modelType: 'gpt2';
  /** Hidden size (`n_embd`). */
  nEmbd: number;
  nLayer: number;
  nHead: number;
  /** nEmbd / nHead. */
  headDim: number;
  /** Width of the MLP (`n_inner`, 4·nEmbd when null). */
  nInner: number;
  /** Rows of the learned position table: the longest sequence the model runs. */
  nPositions: number;
  vocabSize: number;
  layerNormEpsilon: number;
  /** Hugging Face `activation_function`, as given in config.json. */
  activationFunction: string;
  /** The backend's unary op for it ('gelu_new' is the tanh approximation: core 'gelu_tanh'). */
  activation: UnaryOp;
  /** Divide q·k by √headDim (`scale_attn_weights`). */
  scaleAttnWeights: boolean;
  /** Also divide q·k by layer index + 1 (`scale_attn_by_inverse_layer_idx`). */
  scaleAttnByInverseLayerIdx: boolean;
  /**
   * `reorder_and_upcast_attn`: transformers scales before the product and computes it in float32 — only a
   * mixed-precision concern; every backend here computes in float32, so it gives the same numbers.
   */
  reorderAndUpcastAttn: boolean;
  /** The head shares the token embedding (`tie_word_embeddings`, true for every released GPT-2). */
  tieWordEmbeddings: boolean;
  bosTokenId?: number;
  /** The first EOS id (transformers allows a list). */
  eosTokenId?: number;
  /** Every EOS id when config.json gives a list (Llama 3 style); generation stops at any of them. */
  eosTokenIds?: number[];
}

/** transformers' ACT2FN names this adapter runs, mapped to the backend's unary ops. */
const ACTIVATIONS: Record<string, UnaryOp> = {
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_fast: 'gelu_tanh',
  gelu: 'gelu',
  relu: 'relu',
  silu: 'silu',
  swish: 'silu',
  tanh: 'tanh',
};

/** Reads a Hugging Face GPT2LMHeadModel (or GPT2Model) `config.json` object; `file` names it in errors. */
export function gpt2ConfigFromHf(json: Record<string, unknown>, file = 'config.json'): Gpt2Config {
  if (json.model_type !== undefined && json.model_type !== 'gpt2')
    throw new ModelFormatError(file, `model_type is '${String(json.model_type)}', expected 'gpt2'`);
  const int = (key: string, fallback?: number): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
      throw new ModelFormatError(file, `'${key}' must be a positive integer (got ${JSON.stringify(v)})`);
    return v;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'boolean')
      throw new ModelFormatError(file, `'${key}' must be true or false (got ${JSON.stringify(v)})`);
    return v;
  };
  // GPT2Config's defaults (the 124M model) for keys a config.json leaves out
  const nEmbd = int('n_embd', 768);
  const nHead = int('n_head', 12);
  if (nEmbd % nHead !== 0)
    throw new ModelFormatError(file, `n_embd ${nEmbd} is not a multiple of n_head ${nHead}`);
  const activationFunction = json.activation_function ?? 'gelu_new';
  const activation = typeof activationFunction === 'string' ? ACTIVATIONS[activationFunction] : undefined;
  if (activation === undefined)
    throw new ModelFormatError(
      file,
      `activation_function ${JSON.stringify(activationFunction)} is not supported (${Object.keys(ACTIVATIONS).join(', ')})`,
    );
  const eps = json.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== 'number' || !(eps > 0))
    throw new ModelFormatError(
      file,
      `'layer_norm_epsilon' must be a positive number (got ${JSON.stringify(eps)})`,
    );
  const config: Gpt2Config = {
    modelType: 'gpt2',
    nEmbd,
    nLayer: int('n_layer', 12),
    nHead,
    headDim: nEmbd / nHead,
    // n_inner: null in config.json means 4·n_embd, as in transformers' GPT2Block
    nInner: json.n_inner === null ? 4 * nEmbd : int('n_inner', 4 * nEmbd),
    nPositions: int('n_positions', 1024),
    vocabSize: int('vocab_size', 50257),
    layerNormEpsilon: eps,
    activationFunction: activationFunction as string,
    activation,
    scaleAttnWeights: bool('scale_attn_weights', true),
    scaleAttnByInverseLayerIdx: bool('scale_attn_by_inverse_layer_idx', false),
    reorderAndUpcastAttn: bool('reorder_and_upcast_attn', false),
    tieWordEmbeddings: bool('tie_word_embeddings', true),
  };
  if (typeof json.bos_token_id === 'number') config.bosTokenId = json.bos_token_id;
  Object.assign(config, eosTokenIdsFromHf(json.eos_token_id, file));
  return config;
}

/** The 4 linears of every block (Conv1D in transformers): the ones a structured matrix can replace. */
export const GPT2_LINEAR_MODULES = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;

/** The [in, out] of every block linear: c_attn is q, k and v fused, 3·nEmbd outputs. */
export function gpt2LinearDims(
  c: Gpt2Config,
): Record<(typeof GPT2_LINEAR_MODULES)[number], readonly [number, number]> {
  return {
    'attn.c_attn': [c.nEmbd, 3 * c.nEmbd],
    'attn.c_proj': [c.nEmbd, c.nEmbd],
    'mlp.c_fc': [c.nEmbd, c.nInner],
    'mlp.c_proj': [c.nInner, c.nEmbd],
  };
}

/**
 * Every weight of a GPT2LMHeadModel under its Hugging Face name, with the shape it has in the file: Conv1D
 * weights are [in, out] there (the model transposes them to [out, in] when it loads). A GPT2Model checkpoint
 * has the same names without `transformer.`; `lm_head.weight` only appears when the head is untied.
 */
export function gpt2WeightShapes(c: Gpt2Config): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  shapes.set('transformer.wte.weight', [c.vocabSize, c.nEmbd]);
  shapes.set('transformer.wpe.weight', [c.nPositions, c.nEmbd]);
  const dims = gpt2LinearDims(c);
  for (let l = 0; l < c.nLayer; l++) {
    const p = `transformer.h.${l}`;
    for (const norm of ['ln_1', 'ln_2']) {
      shapes.set(`${p}.${norm}.weight`, [c.nEmbd]);
      shapes.set(`${p}.${norm}.bias`, [c.nEmbd]);
    }
    for (const m of GPT2_LINEAR_MODULES) {
      const [inDim, outDim] = dims[m];
      shapes.set(`${p}.${m}.weight`, [inDim, outDim]);
      shapes.set(`${p}.${m}.bias`, [outDim]);
    }
  }
  shapes.set('transformer.ln_f.weight', [c.nEmbd]);
  shapes.set('transformer.ln_f.bias', [c.nEmbd]);
  if (!c.tieWordEmbeddings) shapes.set('lm_head.weight', [c.vocabSize, c.nEmbd]);
  return shapes;
}
