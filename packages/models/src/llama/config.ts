import { eosTokenIdsFromHf } from '../hf/special-tokens.js';
import { ModelFormatError } from '../tensor-source.js';

/** A Llama model's shape and numerics, in Hugging Face's vocabulary (config.json of LlamaForCausalLM). */
export interface LlamaConfig {
  modelType: 'llama';
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** Hugging Face `rope_scaling`; 'linear' and 'llama3' are supported. */
  ropeScaling?: { type: 'linear'; factor: number } | LlamaRope3Scaling;
  tieWordEmbeddings: boolean;
  bosTokenId?: number;
  /** The first EOS id (transformers allows a list). */
  eosTokenId?: number;
  /** Every EOS id when config.json gives a list (Llama 3 style); generation stops at any of them. */
  eosTokenIds?: number[];
}

export interface LlamaRope3Scaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/** Reads a Hugging Face LlamaForCausalLM `config.json` object; `file` names it in errors. */
export function llamaConfigFromHf(json: Record<string, unknown>, file = 'config.json'): LlamaConfig {
  const int = (key: string, fallback?: number): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
      throw new ModelFormatError(file, `'${key}' must be a positive integer (got ${JSON.stringify(v)})`);
    return v;
  };
  const num = (key: string, fallback: number): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'number' || !(v > 0))
      throw new ModelFormatError(file, `'${key}' must be a positive number`);
    return v;
  };
  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const config: LlamaConfig = {
    modelType: 'llama',
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads: int('num_key_value_heads', numHeads),
    headDim: int('head_dim', hiddenSize / numHeads),
    vocabSize: int('vocab_size'),
    maxPositionEmbeddings: int('max_position_embeddings', 2048),
    rmsNormEps: num('rms_norm_eps', 1e-6),
    // transformers ≥ 5 nests θ and the scaling in `rope_parameters`; 4.x has `rope_theta` and `rope_scaling`
    ropeTheta: Number(json.rope_theta ?? ropeParameters(json).rope_theta ?? 10000),
    tieWordEmbeddings: json.tie_word_embeddings === true,
    ropeScaling: ropeScalingFromHf(json.rope_scaling ?? json.rope_parameters, file),
  };
  if (!(config.ropeTheta > 0)) throw new ModelFormatError(file, `rope_theta must be positive`);
  if (typeof json.bos_token_id === 'number') config.bosTokenId = json.bos_token_id;
  Object.assign(config, eosTokenIdsFromHf(json.eos_token_id, file));
  validateLlamaConfig(config, file);
  return config;
}

function ropeParameters(json: Record<string, unknown>): Record<string, unknown> {
  const p = json.rope_parameters;
  return typeof p === 'object' && p !== null ? (p as Record<string, unknown>) : {};
}

function ropeScalingFromHf(raw: unknown, file: string): LlamaConfig['ropeScaling'] {
  if (raw === undefined || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const type = r.rope_type ?? r.type;
  if (type === 'default' || type === undefined) return undefined;
  const factor = Number(r.factor);
  if (!(factor > 0)) throw new ModelFormatError(file, `rope_scaling.factor must be positive`);
  if (type === 'linear') return { type: 'linear', factor };
  if (type === 'llama3')
    return {
      type: 'llama3',
      factor,
      lowFreqFactor: Number(r.low_freq_factor ?? 1),
      highFreqFactor: Number(r.high_freq_factor ?? 4),
      originalMaxPositionEmbeddings: Number(r.original_max_position_embeddings ?? 8192),
    };
  throw new ModelFormatError(file, `rope_scaling type '${String(type)}' is not supported (linear, llama3)`);
}

/** The config as Hugging Face writes it, so a saved model loads in transformers. */
export function llamaConfigToHf(c: LlamaConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxPositionEmbeddings,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    tie_word_embeddings: c.tieWordEmbeddings,
    hidden_act: 'silu',
    torch_dtype: 'float32',
  };
  if (c.bosTokenId !== undefined) out.bos_token_id = c.bosTokenId;
  if (c.eosTokenIds !== undefined) out.eos_token_id = [...c.eosTokenIds];
  else if (c.eosTokenId !== undefined) out.eos_token_id = c.eosTokenId;
  if (c.ropeScaling?.type === 'linear')
    out.rope_scaling = { rope_type: 'linear', factor: c.ropeScaling.factor };
  if (c.ropeScaling?.type === 'llama3')
    out.rope_scaling = {
      rope_type: 'llama3',
      factor: c.ropeScaling.factor,
      low_freq_factor: c.ropeScaling.lowFreqFactor,
      high_freq_factor: c.ropeScaling.highFreqFactor,
      original_max_position_embeddings: c.ropeScaling.originalMaxPositionEmbeddings,
    };
  return out;
}

export function validateLlamaConfig(c: LlamaConfig, file: string): void {
  if (c.numHeads % c.numKvHeads !== 0)
    throw new ModelFormatError(
      file,
      `${c.numHeads} attention heads are not a multiple of ${c.numKvHeads} kv heads`,
    );
  if (c.headDim % 2 !== 0) throw new ModelFormatError(file, `head_dim ${c.headDim} must be even for RoPE`);
}

/** Every weight of a Llama model under its Hugging Face name, with the shape it must have. */
export function llamaWeightShapes(c: LlamaConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  shapes.set('model.embed_tokens.weight', [c.vocabSize, c.hiddenSize]);
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}`;
    shapes.set(`${p}.input_layernorm.weight`, [c.hiddenSize]);
    shapes.set(`${p}.self_attn.q_proj.weight`, [q, c.hiddenSize]);
    shapes.set(`${p}.self_attn.k_proj.weight`, [kv, c.hiddenSize]);
    shapes.set(`${p}.self_attn.v_proj.weight`, [kv, c.hiddenSize]);
    shapes.set(`${p}.self_attn.o_proj.weight`, [c.hiddenSize, q]);
    shapes.set(`${p}.post_attention_layernorm.weight`, [c.hiddenSize]);
    shapes.set(`${p}.mlp.gate_proj.weight`, [c.intermediateSize, c.hiddenSize]);
    shapes.set(`${p}.mlp.up_proj.weight`, [c.intermediateSize, c.hiddenSize]);
    shapes.set(`${p}.mlp.down_proj.weight`, [c.hiddenSize, c.intermediateSize]);
  }
  shapes.set('model.norm.weight', [c.hiddenSize]);
  if (!c.tieWordEmbeddings) shapes.set('lm_head.weight', [c.vocabSize, c.hiddenSize]);
  return shapes;
}

/** The 7 projections of every layer: the linears BLAST replaces in Llama. */
export const LLAMA_LINEAR_SUFFIXES = [
  'self_attn.q_proj',
  'self_attn.k_proj',
  'self_attn.v_proj',
  'self_attn.o_proj',
  'mlp.gate_proj',
  'mlp.up_proj',
  'mlp.down_proj',
] as const;
