import { ModelFormatError } from '../tensor-source.js';

/**
 * config.json's `eos_token_id`: one id, or (Llama 3, transformers' GenerationConfig) a list of ids, any of which
 * ends generation. Returns `eosTokenId` (the first) and, for a list, `eosTokenIds` (all); nothing when absent or
 * null. Anything else is a ModelFormatError naming the file.
 */
export function eosTokenIdsFromHf(
  raw: unknown,
  file: string,
): { eosTokenId?: number; eosTokenIds?: number[] } {
  if (raw === undefined || raw === null) return {};
  const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
  if (isId(raw)) return { eosTokenId: raw };
  if (Array.isArray(raw) && raw.every(isId)) {
    if (raw.length === 0) return {};
    return { eosTokenId: raw[0], eosTokenIds: [...raw] };
  }
  throw new ModelFormatError(
    file,
    `'eos_token_id' must be a token id or a list of them (got ${JSON.stringify(raw)})`,
  );
}

/** The ids that end generation: a list's ids, else the one EOS id, else none. */
export function stopTokenIds(config: { eosTokenId?: number; eosTokenIds?: readonly number[] }): number[] {
  if (config.eosTokenIds !== undefined) return [...config.eosTokenIds];
  return config.eosTokenId === undefined ? [] : [config.eosTokenId];
}
