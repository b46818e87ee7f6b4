import { readFile } from 'node:fs/promises';

/**
 * llama2.c's `tokenizer.bin` as a Hugging Face `tokenizer.json` (the Llama-2 SentencePiece BPE layout that
 * transformers.js and `tokenizers` load). tokenizer.bin keeps each piece with SentencePiece's `▁` written as a
 * space, BOS/EOS as "\n<s>\n"/"\n</s>\n" and the 256 byte tokens (ids 3–258) as raw bytes; they are
 * mapped back to `▁`, `<s>`, `</s>` and `<0xXX>`. Merges are rebuilt as Hugging Face's
 * SentencePiece converter does: every split of a piece into two pieces of the vocabulary, ranked by the merged
 * piece's score (higher first), which is the order run.c's encode merges in.
 */
export async function llama2cTokenizerJson(
  path: string,
  vocabSize = 32000,
): Promise<{ tokenizer: Record<string, unknown>; config: Record<string, unknown> }> {
  const bytes = await readFile(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder();
  const pieces: string[] = [];
  const scores: number[] = [];
  let at = 4;
  for (let i = 0; i < vocabSize; i++) {
    if (at + 8 > bytes.length) throw new Error(`${path}: truncated at token ${i} (offset ${at})`);
    scores.push(view.getFloat32(at, true));
    const len = view.getInt32(at + 4, true);
    at += 8;
    if (len < 0 || at + len > bytes.length) throw new Error(`${path}: token ${i} has a bad length ${len}`);
    pieces.push(decoder.decode(bytes.subarray(at, at + len)));
    at += len;
  }
  const special = ['<unk>', '<s>', '</s>'];
  const vocab: Record<string, number> = {};
  const normal = new Set<number>();
  pieces.forEach((raw, id) => {
    // ids 3–258 are the raw bytes (run.c's byte fallback), whatever tokenizer.bin spells them as
    const piece =
      id < 3
        ? special[id]
        : id < 259
          ? `<0x${(id - 3).toString(16).toUpperCase().padStart(2, '0')}>`
          : raw.replaceAll(' ', '\u2581');
    if (piece in vocab) return; // a duplicate keeps its first id, as SentencePiece does
    vocab[piece] = id;
    if (id >= 259) normal.add(id);
  });
  const merges: { left: string; right: string; score: number; leftId: number; rightId: number }[] = [];
  for (const [piece, id] of Object.entries(vocab)) {
    if (!normal.has(id)) continue;
    const chars = Array.from(piece);
    for (let i = 1; i < chars.length; i++) {
      const left = chars.slice(0, i).join('');
      const right = chars.slice(i).join('');
      const l = vocab[left];
      const r = vocab[right];
      if (l !== undefined && r !== undefined && normal.has(l) && normal.has(r))
        merges.push({ left, right, score: scores[id], leftId: l, rightId: r });
    }
  }
  merges.sort((a, b) => b.score - a.score || a.leftId - b.leftId || a.rightId - b.rightId);
  const added = special.map((content, id) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '\u2581' },
        { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: merges.map((m) => `${m.left} ${m.right}`),
    },
  };
  const config = {
    tokenizer_class: 'LlamaTokenizer',
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    pad_token: null,
    add_bos_token: true,
    add_eos_token: false,
    legacy: true,
    clean_up_tokenization_spaces: false,
    model_max_length: 1_000_000_000_000_000_000_000,
  };
  return { tokenizer, config };
}
