import {
  LLAMA_FUSED_LINEAR_SUFFIXES,
  type LlamaConfig,
  llamaFamilyConfigFromHf,
  llamaFamilyConfigToHf,
  slidingWindowFromHf,
} from '../llama/config.js';
import { ModelFormatError } from '../tensor-source.js';

/** Phi-3's 4 linears per layer, as its checkpoints name them: q/k/v fused, gate/up fused. */
export const PHI3_LINEAR_SUFFIXES = LLAMA_FUSED_LINEAR_SUFFIXES;

/**
 * Reads a Hugging Face Phi3ForCausalLM `config.json` object into the Llama adapter's config: Llama's block with
 * fused `qkv_proj` and `gate_up_proj` and an optional sliding window (Phi-3-mini-4k has 2047). RoPE on part of
 * each head (`partial_rotary_factor` < 1) and LongRoPE (the 128k models) are refused by name.
 */
export function phi3ConfigFromHf(json: Record<string, unknown>, file = 'config.json'): LlamaConfig {
  const rope = (json.rope_parameters ?? json.rope_scaling ?? {}) as Record<string, unknown>;
  const partial = Number(json.partial_rotary_factor ?? rope.partial_rotary_factor ?? 1);
  if (partial !== 1)
    throw new ModelFormatError(
      file,
      `partial_rotary_factor ${partial} is not supported (RoPE on the whole head, 1.0)`,
    );
  const type = rope.rope_type ?? rope.type;
  if (type === 'longrope' || type === 'su' || type === 'yarn')
    throw new ModelFormatError(file, `Phi-3 rope type '${String(type)}' (LongRoPE) is not supported`);
  const config = llamaFamilyConfigFromHf(json, file, 'phi3', {
    maxPositionEmbeddings: 4096,
    rmsNormEps: 1e-5,
  });
  config.fusedProjections = true;
  const window = slidingWindowFromHf(json, file);
  if (window !== undefined) config.slidingWindow = window;
  return config;
}

/** The config as transformers' Phi3Config writes it, so a saved model loads in transformers. */
export function phi3ConfigToHf(c: LlamaConfig): Record<string, unknown> {
  const out = llamaFamilyConfigToHf(c, 'Phi3ForCausalLM');
  out.sliding_window = c.slidingWindow ?? null;
  // Phi3Config defaults pad_token_id to 32000, past a small vocabulary's end (nn.Embedding refuses it)
  out.pad_token_id = null;
  return out;
}
