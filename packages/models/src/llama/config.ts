import { eosTokenIdsFromHf } from '../hf/special-tokens.js';
import { ModelFormatError } from '../tensor-source.js';

/**
 * The decoders that share Llama's block (RMSNorm, RoPE, grouped-query attention, SwiGLU) and so its adapter, by
 * Hugging Face `model_type`; each differs in a few options of LlamaConfig (biases, a sliding window, fused
 * projections) read by its own folder (`qwen2/`, `mistral/`, `phi3/`).
 */
export type LlamaFamilyType = 'llama' | 'qwen2' | 'mistral' | 'phi3';

/** A Llama model's shape and numerics, in Hugging Face's vocabulary (config.json of LlamaForCausalLM). */
export interface LlamaConfig {
  modelType: LlamaFamilyType;
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
  /**
   * Layer linears (suffixes such as `self_attn.q_proj`) whose checkpoint stores a bias: Qwen2's q, k and v,
   * Llama's `attention_bias` (q, k, v, o) and `mlp_bias`. None when absent.
   */
  linearBiases?: readonly string[];
  /**
   * Sliding-window attention (Mistral, Phi-3, Qwen2's `use_sliding_window`): the query at position p sees the
   * keys j with p − W < j ≤ p, W of them at most, as transformers' `sliding_window_overlay` masks them.
   */
  slidingWindow?: number;
  /** Which layers the window applies to (transformers' `layer_types`); every layer when absent. */
  slidingLayers?: readonly boolean[];
  /**
   * Phi-3's layout: q, k and v stored as one `self_attn.qkv_proj` [q + 2·kv, hidden] and gate and up as one
   * `mlp.gate_up_proj` [2·intermediate, hidden]. Each stays one linear (one module to compress), as the
   * checkpoint names it; the forward splits its output.
   */
  fusedProjections?: boolean;
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
  // read as a Llama, these would load and run with their biases, window or fused layout silently lost
  if (json.model_type === 'qwen2' || json.model_type === 'mistral' || json.model_type === 'phi3')
    throw new ModelFormatError(
      file,
      `model_type '${json.model_type}' is read by ${json.model_type}ConfigFromHf, not as a Llama`,
    );
  const config = llamaFamilyConfigFromHf(json, file, 'llama', {
    maxPositionEmbeddings: 2048,
    rmsNormEps: 1e-6,
  });
  // transformers' LlamaConfig: `attention_bias` puts a bias on q, k, v and o; `mlp_bias` on the three MLP linears
  const biases = [
    ...(json.attention_bias === true ? LLAMA_LINEAR_SUFFIXES.filter((s) => s.startsWith('self_attn.')) : []),
    ...(json.mlp_bias === true ? LLAMA_LINEAR_SUFFIXES.filter((s) => s.startsWith('mlp.')) : []),
  ];
  if (biases.length > 0) config.linearBiases = biases;
  return config;
}

/**
 * The fields every Llama-family config.json shares, with the family's defaults for the keys it may leave out;
 * validated. The family readers (`qwen2ConfigFromHf`, …) add their own options to it and validate again.
 */
export function llamaFamilyConfigFromHf(
  json: Record<string, unknown>,
  file: string,
  modelType: LlamaFamilyType,
  defaults: { maxPositionEmbeddings: number; rmsNormEps: number },
): LlamaConfig {
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
    modelType,
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads: int('num_key_value_heads', numHeads),
    headDim: int('head_dim', hiddenSize / numHeads),
    vocabSize: int('vocab_size'),
    maxPositionEmbeddings: int('max_position_embeddings', defaults.maxPositionEmbeddings),
    rmsNormEps: num('rms_norm_eps', defaults.rmsNormEps),
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

/**
 * config.json's `sliding_window`: a positive integer, or undefined for null or absent (full attention).
 * Shared by the family readers that have one.
 */
export function slidingWindowFromHf(json: Record<string, unknown>, file: string): number | undefined {
  const w = json.sliding_window;
  if (w === undefined || w === null) return undefined;
  if (typeof w !== 'number' || !Number.isInteger(w) || w <= 0)
    throw new ModelFormatError(
      file,
      `'sliding_window' must be a positive integer or null (got ${JSON.stringify(w)})`,
    );
  return w;
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
  if (c.modelType !== 'llama')
    throw new RangeError(
      `llamaConfigToHf: a ${c.modelType} config is written by its own folder's ConfigToHf`,
    );
  const out = llamaFamilyConfigToHf(c, 'LlamaForCausalLM');
  const biased = new Set(c.linearBiases ?? []);
  if (biased.has('self_attn.q_proj')) out.attention_bias = true;
  if (biased.has('mlp.gate_proj')) out.mlp_bias = true;
  return out;
}

/**
 * The keys every Llama-family config.json shares, under `model_type` c.modelType and the given class name; the
 * family writers (`qwen2ConfigToHf`, …) add their own.
 */
export function llamaFamilyConfigToHf(c: LlamaConfig, architecture: string): Record<string, unknown> {
  const out: Record<string, unknown> = {
    architectures: [architecture],
    model_type: c.modelType,
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
  if (c.slidingWindow !== undefined && !(Number.isInteger(c.slidingWindow) && c.slidingWindow > 0))
    throw new ModelFormatError(file, `sliding window ${c.slidingWindow} must be a positive integer`);
  if (c.slidingLayers !== undefined && c.slidingLayers.length !== c.numLayers)
    throw new ModelFormatError(
      file,
      `layer_types has ${c.slidingLayers.length} entries, expected one per layer (${c.numLayers})`,
    );
  const linears = llamaLinearSuffixes(c) as readonly string[];
  for (const s of c.linearBiases ?? [])
    if (!linears.includes(s))
      throw new ModelFormatError(
        file,
        `a bias on '${s}', which is not one of the layer linears (${linears.join(', ')})`,
      );
}

/** Every weight of a Llama model under its Hugging Face name, with the shape it must have. */
export function llamaWeightShapes(c: LlamaConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const linears = llamaLinearShapes(c);
  const biased = new Set(c.linearBiases ?? []);
  const addLinears = (p: string, block: string) => {
    for (const [suffix, [out, inp]] of linears) {
      if (!suffix.startsWith(block)) continue;
      shapes.set(`${p}.${suffix}.weight`, [out, inp]);
      if (biased.has(suffix)) shapes.set(`${p}.${suffix}.bias`, [out]);
    }
  };
  shapes.set('model.embed_tokens.weight', [c.vocabSize, c.hiddenSize]);
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}`;
    shapes.set(`${p}.input_layernorm.weight`, [c.hiddenSize]);
    addLinears(p, 'self_attn.');
    shapes.set(`${p}.post_attention_layernorm.weight`, [c.hiddenSize]);
    addLinears(p, 'mlp.');
  }
  shapes.set('model.norm.weight', [c.hiddenSize]);
  if (!c.tieWordEmbeddings) shapes.set('lm_head.weight', [c.vocabSize, c.hiddenSize]);
  return shapes;
}

/** [out, in] of each layer linear, by suffix, in network order (the fused ones for Phi-3's layout). */
export function llamaLinearShapes(c: LlamaConfig): Map<string, [number, number]> {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const h = c.hiddenSize;
  const i = c.intermediateSize;
  if (c.fusedProjections)
    return new Map<string, [number, number]>([
      ['self_attn.qkv_proj', [q + 2 * kv, h]],
      ['self_attn.o_proj', [h, q]],
      ['mlp.gate_up_proj', [2 * i, h]],
      ['mlp.down_proj', [h, i]],
    ]);
  return new Map<string, [number, number]>([
    ['self_attn.q_proj', [q, h]],
    ['self_attn.k_proj', [kv, h]],
    ['self_attn.v_proj', [kv, h]],
    ['self_attn.o_proj', [h, q]],
    ['mlp.gate_proj', [i, h]],
    ['mlp.up_proj', [i, h]],
    ['mlp.down_proj', [h, i]],
  ]);
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

/** Phi-3's 4 linears per layer: q, k, v fused in one, gate and up in another (`fusedProjections`). */
export const LLAMA_FUSED_LINEAR_SUFFIXES = [
  'self_attn.qkv_proj',
  'self_attn.o_proj',
  'mlp.gate_up_proj',
  'mlp.down_proj',
] as const;

/** The linears of every layer of this config, as module-name suffixes in network order. */
export function llamaLinearSuffixes(c: LlamaConfig): readonly string[] {
  return c.fusedProjections ? LLAMA_FUSED_LINEAR_SUFFIXES : LLAMA_LINEAR_SUFFIXES;
}
