import {
  type LlamaConfig,
  llamaFamilyConfigFromHf,
  llamaFamilyConfigToHf,
  slidingWindowFromHf,
  validateLlamaConfig,
} from '../llama/config.js';
import { ModelFormatError } from '../tensor-source.js';

/** Qwen2's biased linears: q, k and v carry a bias, o and the MLP none (transformers' Qwen2Attention). */
export const QWEN2_BIASED_LINEARS = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'] as const;

/**
 * Reads a Hugging Face Qwen2ForCausalLM `config.json` object into the Llama adapter's config: Llama's block with
 * q/k/v biases and, where `use_sliding_window` is set, a window on the layers `layer_types` marks
 * `sliding_attention` (by default those from `max_window_layers` on, as transformers 5 derives them).
 */
export function qwen2ConfigFromHf(json: Record<string, unknown>, file = 'config.json'): LlamaConfig {
  const config = llamaFamilyConfigFromHf(json, file, 'qwen2', {
    maxPositionEmbeddings: 32768,
    rmsNormEps: 1e-6,
  });
  config.linearBiases = QWEN2_BIASED_LINEARS;
  // transformers drops the window unless use_sliding_window is set, whatever sliding_window says
  const window = json.use_sliding_window === true ? slidingWindowFromHf(json, file) : undefined;
  if (window !== undefined) {
    config.slidingWindow = window;
    config.slidingLayers = qwen2SlidingLayers(json, config.numLayers, file);
  }
  validateLlamaConfig(config, file);
  return config;
}

function qwen2SlidingLayers(json: Record<string, unknown>, numLayers: number, file: string): boolean[] {
  const types = json.layer_types;
  if (Array.isArray(types))
    return types.map((t, l) => {
      if (t !== 'sliding_attention' && t !== 'full_attention')
        throw new ModelFormatError(
          file,
          `layer_types[${l}] is ${JSON.stringify(t)}, expected 'full_attention' or 'sliding_attention'`,
        );
      return t === 'sliding_attention';
    });
  const from = json.max_window_layers ?? 28;
  if (typeof from !== 'number' || !Number.isInteger(from) || from < 0)
    throw new ModelFormatError(
      file,
      `'max_window_layers' must be a non-negative integer (got ${JSON.stringify(from)})`,
    );
  return Array.from({ length: numLayers }, (_, l) => l >= from);
}

/** The config as transformers' Qwen2Config writes it, so a saved model loads in transformers. */
export function qwen2ConfigToHf(c: LlamaConfig): Record<string, unknown> {
  const out = llamaFamilyConfigToHf(c, 'Qwen2ForCausalLM');
  out.use_sliding_window = c.slidingWindow !== undefined;
  out.sliding_window = c.slidingWindow ?? null;
  if (c.slidingWindow !== undefined)
    out.layer_types = Array.from({ length: c.numLayers }, (_, l) =>
      (c.slidingLayers?.[l] ?? true) ? 'sliding_attention' : 'full_attention',
    );
  return out;
}
