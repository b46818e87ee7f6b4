// A tokenizer for the models package's tiny Llama fixture, which ships none (shared by CLI tests).

/** A character-level tokenizer.json for the tiny Llama's 64 ids (the fixture ships none). */
export function tinyTokenizerJson(): string {
  const vocab: Record<string, number> = { '<unk>': 0 };
  [..." abcdefghijklmnopqrstuvwxyz.,!?'ABCDEFGHIJKLMNOPQRSTUVWXYZ01"].forEach((c, i) => {
    vocab[c] = i + 3;
  });
  return JSON.stringify({
    version: '1.0',
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: 'Fuse' },
    model: { type: 'BPE', unk_token: '<unk>', vocab, merges: [] },
  });
}
