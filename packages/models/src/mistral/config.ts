import {
  type LlamaConfig,
  llamaFamilyConfigFromHf,
  llamaFamilyConfigToHf,
  slidingWindowFromHf,
} from '../llama/config.js';

/**
 * Reads a Hugging Face MistralForCausalLM `config.json` object into the Llama adapter's config: Llama's block with
 * a sliding window on every layer. transformers' MistralConfig defaults `sliding_window` to 4096 when the key is
 * absent (Mistral 7B v0.1); v0.2 and later write null, full attention.
 */
export function mistralConfigFromHf(json: Record<string, unknown>, file = 'config.json'): LlamaConfig {
  const config = llamaFamilyConfigFromHf(json, file, 'mistral', {
    maxPositionEmbeddings: 131072,
    rmsNormEps: 1e-6,
  });
  const window = 'sliding_window' in json ? slidingWindowFromHf(json, file) : 4096;
  if (window !== undefined) config.slidingWindow = window;
  return config;
}

/** The config as transformers' MistralConfig writes it; `sliding_window` is always written (absent means 4096). */
export function mistralConfigToHf(c: LlamaConfig): Record<string, unknown> {
  const out = llamaFamilyConfigToHf(c, 'MistralForCausalLM');
  out.sliding_window = c.slidingWindow ?? null;
  return out;
}
