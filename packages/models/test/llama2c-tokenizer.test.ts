import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchAsset } from '@blastkit/assets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Llama2cTokenizer, TokenizerFormatError } from '../src/llama2c/tokenizer.js';

/** One encode() run of llama2.c's run.c, and what its safe_printf printed for the ids (BOS skipped). */
interface EncodeCase {
  text: string;
  bos: boolean;
  eos: boolean;
  ids: number[];
  decoded: string;
}
/** One decode run of run.c: decode(prev, id) per token (hex bytes), and what safe_printf printed. */
interface DecodeCase {
  ids: number[];
  pieces: string[];
  decoded: string;
}
interface Fixture {
  source: string;
  tokenizer: { sha256: string; vocabSize: number };
  /** [id, str_lookup(piece of id)] for every id whose piece str_lookup does not map back to it. */
  lookup: [number, number][];
  cases: EncodeCase[];
  flagCases: EncodeCase[];
  decodeCases: DecodeCase[];
  synthetic: {
    tokenizerBase64: string;
    vocabSize: number;
    lookup: [number, number][];
    cases: EncodeCase[];
    decodeCases: DecodeCase[];
  };
}

const fixturePath = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'llama2c-tokenizer.json');
const fixture = JSON.parse(readFileSync(fixturePath, 'utf8')) as Fixture;
const label = (text: string) => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

let tok: Llama2cTokenizer;
let tokenizerBytes: Uint8Array;
let tokenizerPath: string;

beforeAll(async () => {
  ({ 'tokenizer.bin': tokenizerPath } = await fetchAsset('stories15M'));
  tokenizerBytes = readFileSync(tokenizerPath);
  tok = await Llama2cTokenizer.load(tokenizerPath);
}, 120_000);

/** Checks a tokenizer against run.c's str_lookup for every piece of the vocabulary. */
function expectLookupTable(t: Llama2cTokenizer, lookup: [number, number][]) {
  const expected = new Map(lookup);
  const got: [number, number][] = [];
  for (let id = 0; id < t.vocabSize; id++) {
    const found = t.lookup(t.pieceBytes(id));
    if (found !== id) got.push([id, found ?? -1]);
  }
  expect(got).toEqual([...expected]);
}

function expectDecodeCase(t: Llama2cTokenizer, c: DecodeCase) {
  expect(c.ids.map((id, i) => hex(t.decodeTokenBytes(i > 0 ? c.ids[i - 1] : -1, id)))).toEqual(c.pieces);
  expect(t.decode(c.ids)).toBe(c.decoded);
}

describe('Llama2cTokenizer on stories15M tokenizer.bin, against llama2.c run.c', () => {
  it('reads the file the fixture was made from', () => {
    expect(fixture.source).toMatch(/^karpathy\/llama2\.c run\.c @ [0-9a-f]{40}$/);
    expect(createHash('sha256').update(tokenizerBytes).digest('hex')).toBe(fixture.tokenizer.sha256);
    expect(tok.vocabSize).toBe(32000);
    expect(tok.maxTokenLength).toBe(27);
    expect([tok.bosId, tok.eosId]).toEqual([1, 2]);
    expect([tok.piece(0), tok.piece(1), tok.piece(2)]).toEqual(['<unk>', '\n<s>\n', '\n</s>\n']);
    // This export stores raw-byte token b as the code point U+00bb in UTF-8, not as "<0xHH>" nor as the byte.
    expect([tok.piece(3 + 0x41), tok.piece(3 + 0xe9), hex(tok.pieceBytes(3 + 0x80))]).toEqual([
      'A',
      'é',
      'c280',
    ]);
    expect(tok.piece(9038)).toBe(' Once');
    expect(tok.score(9038)).toBe(Math.fround(-8779));
  });

  it('has the fixture cases the brief asks for', () => {
    expect(fixture.cases.length).toBeGreaterThanOrEqual(40);
    const texts = fixture.cases.map((c) => c.text);
    expect(texts).toContain('');
    expect(texts).toContain('Once upon a time, there was a little girl named Lily.');
    expect(texts.some((t) => t.length >= 1000)).toBe(true);
    expect(texts.some((t) => /\p{Extended_Pictographic}/u.test(t))).toBe(true);
    expect(fixture.cases.every((c) => c.bos && !c.eos)).toBe(true);
  });

  for (const c of fixture.cases) {
    it(`encode ${label(c.text)} gives run.c's ids, and decode prints what run.c printed`, () => {
      expect(tok.encode(c.text, { bos: true, eos: false })).toEqual(c.ids);
      expect(tok.decode(c.ids)).toBe(c.decoded);
    });
  }

  it('encodes with bos/eos flags as run.c does', () => {
    expect(fixture.flagCases.length).toBeGreaterThan(0);
    for (const c of fixture.flagCases) {
      expect(tok.encode(c.text, { bos: c.bos, eos: c.eos }), label(c.text)).toEqual(c.ids);
      expect(tok.decode(c.ids), label(c.text)).toBe(c.decoded);
    }
  });

  it('eos: true appends 2, bos: false drops the leading 1, and the defaults are bos: true, eos: false', () => {
    const text = 'Lily saw a cat.';
    const plain = tok.encode(text, { bos: false, eos: false });
    expect(plain[0]).not.toBe(1);
    expect(tok.encode(text)).toEqual([1, ...plain]);
    expect(tok.encode(text, { eos: true })).toEqual([1, ...plain, 2]);
    expect(tok.encode(text, { bos: false, eos: true })).toEqual([...plain, 2]);
    expect(tok.encode('', { eos: true })).toEqual([1, 2]);
  });

  it("looks every piece up as run.c's str_lookup does (duplicate pieces resolve to glibc bsearch's pick)", () => {
    // 204 pieces occur twice: raw-byte tokens of Latin-1 characters and the same characters as ordinary pieces.
    expect(fixture.lookup).toHaveLength(204);
    expectLookupTable(tok, fixture.lookup);
    expect(tok.lookup(' ')).toBe(35); // the dummy prefix: raw-byte token 0x20, not its twin 29871
    expect(tok.lookup('not a piece')).toBeUndefined();
  });

  it('decodes token sequences piece by piece as run.c decode() does', () => {
    for (const c of fixture.decodeCases) expectDecodeCase(tok, c);
    const once = tok.lookup(' Once')!;
    expect(tok.decodeToken(1, once)).toBe('Once'); // the leading space goes right after BOS only
    expect(tok.decodeToken(5, once)).toBe(' Once');
    expect(tok.decodeToken(-1, 3 + 0x0a)).toBe('\n');
  });

  it('round-trips decode(encode(x)) === x exactly where llama2.c does', () => {
    // It cannot when a code point is not a piece: the byte fallback's tokens print as U+0080..U+00FF (this
    // tokenizer.bin stores raw bytes as those code points), nor for a NUL (encode stops there), a lone surrogate
    // (UTF-8 encoding makes it U+FFFD) or a C0 control / DEL (safe_printf drops one-byte unprintable pieces).
    const expectRoundTrip = (text: string) =>
      [...text].every((ch) => {
        const c = ch.codePointAt(0)!;
        const control = c === 0x7f || (c < 0x20 && !(c >= 0x09 && c <= 0x0d));
        const loneSurrogate = c >= 0xd800 && c <= 0xdfff;
        return !control && !loneSurrogate && tok.lookup(ch) !== undefined;
      });
    let holds = 0;
    for (const { text } of fixture.cases) {
      const back = tok.decode(tok.encode(text));
      if (expectRoundTrip(text)) {
        expect(back, label(text)).toBe(text);
        holds++;
      } else expect(back, label(text)).not.toBe(text);
    }
    expect(holds).toBeGreaterThan(40);
    expect(tok.decode(tok.encode('😀'))).toBe('ð\u009f\u0098\u0080');
    expect(tok.decode(tok.encode('a\u0000b'))).toBe('a');
    expect(tok.decode(tok.encode('bell\u0007!'))).toBe('bell!');
    expect(tok.decode(tok.encode('  two leading spaces'))).toBe('  two leading spaces');
  });

  it("gives run.c's merges on random text (a direct port of its quadratic loop as the reference)", () => {
    let seed = 12345;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const alphabet = [
      ...'abcdefghijklmnopqrstuvwxyz      ,.!?\'"\n\tABCXYZ0123456789éüñçß日本語中文😀🍕ÅØЖжλΩ',
    ];
    for (let n = 0; n < 150; n++) {
      const text = Array.from(
        { length: 1 + Math.floor(random() * 60) },
        () => alphabet[Math.floor(random() * alphabet.length)],
      ).join('');
      expect(tok.encode(text), label(text)).toEqual(referenceEncode(tok, text));
    }
  });

  it('encodes long text fast (the merges are not quadratic)', () => {
    const paragraph = fixture.cases.find((c) => c.text.length >= 1000)!;
    const long = `${paragraph.text} `.repeat(200); // ~220 KB: run.c's loop would do ~10^10 pair lookups
    const start = performance.now();
    const ids = tok.encode(long);
    expect(performance.now() - start).toBeLessThan(20_000);
    expect(tok.decode(ids)).toBe(long);
  });
});

/**
 * run.c encode() ported line by line (rescanning every pair after each merge): the reference the heap-based
 * merge in Llama2cTokenizer.encode must agree with.
 */
function referenceEncode(t: Llama2cTokenizer, text: string): number[] {
  const enc = new TextEncoder();
  const bytes = enc.encode(text);
  const tokens: number[] = [1];
  if (bytes.length > 0) tokens.push(t.lookup(' ')!);
  let buf: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    if ((bytes[i] & 0xc0) !== 0x80) buf = [];
    buf.push(bytes[i]);
    if (((bytes[i + 1] ?? 0) & 0xc0) === 0x80 && buf.length < 4) continue;
    const id = t.lookup(Uint8Array.from(buf));
    if (id !== undefined) tokens.push(id);
    else tokens.push(...buf.map((b) => b + 3));
    buf = [];
  }
  const bytesOf = (id: number) => {
    const p = t.pieceBytes(id);
    const nul = p.indexOf(0);
    return nul < 0 ? p : p.subarray(0, nul);
  };
  for (;;) {
    let bestScore = -1e10;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i < tokens.length - 1; i++) {
      const id = t.lookup(Uint8Array.from([...bytesOf(tokens[i]), ...bytesOf(tokens[i + 1])]));
      if (id !== undefined && t.score(id) > bestScore) {
        bestScore = t.score(id);
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) return tokens;
    tokens.splice(bestIdx, 2, bestId);
  }
}

describe('Llama2cTokenizer on a synthetic tokenizer.bin, against llama2.c run.c', () => {
  const synth = fixture.synthetic;
  const t = Llama2cTokenizer.fromBytes(Buffer.from(synth.tokenizerBase64, 'base64'), synth.vocabSize);

  it('parses it, ignoring bytes after vocab_size tokens as run.c does', () => {
    expect(t.vocabSize).toBe(synth.vocabSize);
    expect(t.piece(3 + 0x41)).toBe('<0x41>');
  });

  for (const c of synth.cases) {
    it(`encode ${label(c.text)} (bos ${c.bos}, eos ${c.eos}) gives run.c's ids and decode its output`, () => {
      expect(t.encode(c.text, { bos: c.bos, eos: c.eos })).toEqual(c.ids);
      expect(t.decode(c.ids)).toBe(c.decoded);
    });
  }

  it('resolves duplicate pieces (and the piece "x\\0y", which is "x" to C) as str_lookup does', () => {
    expect(synth.lookup.length).toBeGreaterThan(3);
    expectLookupTable(t, synth.lookup);
  });

  it("decodes <0xHH> pieces (and the odd ones glibc's sscanf also accepts) as run.c decode() does", () => {
    for (const c of synth.decodeCases) expectDecodeCase(t, c);
    const id = (piece: string) => t.lookup(piece)!;
    expect(t.decodeToken(-1, id('<0x+A>'))).toBe('\n');
    expect(t.decodeToken(1, id(' <0x42>'))).toBe('B');
    expect(t.decodeToken(-1, id(' <0x42>'))).toBe(' <0x42>');
    expect(t.decodeToken(-1, id('<0xZZ>'))).toBe('<0xZZ>');
    // Raw bytes that are not UTF-8 on their own: decodeToken shows U+FFFD, decode() drops them as safe_printf does.
    expect(t.decodeToken(-1, 3 + 0xe6)).toBe('\ufffd');
    expect(hex(t.decodeTokenBytes(-1, 3 + 0xe6))).toBe('e6');
    expect(t.decode([1, 3 + 0xe6, 3 + 0x97, 3 + 0xa5])).toBe('');
    // Without the filter the byte-fallback tokens of 日 (E6 97 A5) reassemble; control bytes stay too.
    expect(t.decode([1, 3 + 0xe6, 3 + 0x97, 3 + 0xa5, 3 + 0x07], { safePrintf: false })).toBe('日\u0007');
    expect(t.decode(t.encode('😀'), { safePrintf: false })).toBe('\n<s>\n 😀');
  });

  it('rejects encoding what run.c would read out of bounds for', () => {
    const bytes = tokenizerFile(5, [
      [0, '<unk>'],
      [0, '<s>'],
      [0, '</s>'],
      [0, 'a'],
    ]);
    const tiny = Llama2cTokenizer.fromBytes(bytes, 4);
    expect(() => tiny.encode('a')).toThrow(
      new TokenizerFormatError('tokenizer.bin', 'no " " piece for the dummy prefix'),
    );
    const withSpace = Llama2cTokenizer.fromBytes(
      tokenizerFile(4, [
        [0, ' '],
        [0, '<s>'],
        [0, '</s>'],
        [0, 'a'],
      ]),
      4,
    );
    expect(withSpace.encode('a')).toEqual([1, 0, 3]);
    expect(() => withSpace.encode('b')).toThrow(
      'tokenizer.bin: byte fallback needs token 101, past the vocabulary of 4',
    );
    expect(() => withSpace.decode([4])).toThrow(RangeError);
    expect(() => withSpace.piece(-1)).toThrow('token id -1 is outside the vocabulary (0..3)');
  });
});

/** A tokenizer.bin from [score, piece] pairs (pieces UTF-8 encoded, or raw bytes). */
function tokenizerFile(maxTokenLength: number, tokens: [number, string | Uint8Array][]): Uint8Array {
  const parts: Buffer[] = [Buffer.alloc(4)];
  parts[0].writeInt32LE(maxTokenLength, 0);
  for (const [score, piece] of tokens) {
    const bytes = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : Buffer.from(piece);
    const head = Buffer.alloc(8);
    head.writeFloatLE(score, 0);
    head.writeInt32LE(bytes.length, 4);
    parts.push(head, bytes);
  }
  return new Uint8Array(Buffer.concat(parts));
}

describe('malformed tokenizer.bin', () => {
  const good = tokenizerFile(5, [
    [0, '<unk>'],
    [-1.5, ' '],
    [-2, 'ab'],
  ]);
  const expectFormatError = (bytes: Uint8Array, vocabSize: number, message: string) => {
    let caught: unknown;
    try {
      Llama2cTokenizer.fromBytes(bytes, vocabSize);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TokenizerFormatError);
    expect((caught as Error).name).toBe('TokenizerFormatError');
    expect((caught as Error).message).toBe(message);
  };

  it('reads a well-formed one', () => {
    const t = Llama2cTokenizer.fromBytes(good, 3);
    expect([t.vocabSize, t.maxTokenLength, t.piece(2), t.score(1)]).toEqual([3, 5, 'ab', -1.5]);
  });

  it('truncated header', () => {
    expectFormatError(
      good.subarray(0, 3),
      3,
      'tokenizer.bin: truncated header (offset 0): needs 4 bytes (int32 max_token_length), 3 left',
    );
    expectFormatError(
      new Uint8Array(0),
      3,
      'tokenizer.bin: truncated header (offset 0): needs 4 bytes (int32 max_token_length), 0 left',
    );
  });

  it('truncated token header (score and length)', () => {
    // token 0 is 8 + 5 bytes from offset 4, token 1 starts at 17; cut 3 bytes into it.
    expectFormatError(
      good.subarray(0, 20),
      3,
      'tokenizer.bin: truncated at token 1 (offset 17): needs 8 bytes (float32 score, int32 length), 3 left',
    );
    // More tokens asked for than the file holds.
    expectFormatError(
      good,
      4,
      `tokenizer.bin: truncated at token 3 (offset ${good.length}): needs 8 bytes (float32 score, int32 length), 0 left`,
    );
  });

  it('truncated token bytes', () => {
    expectFormatError(
      good.subarray(0, good.length - 1),
      3,
      'tokenizer.bin: truncated at token 2 (offset 34): needs 2 bytes, 1 left',
    );
  });

  it('length past the end', () => {
    const bytes = good.slice();
    new DataView(bytes.buffer).setInt32(30, 4, true); // token 2 ('ab') now claims 4 bytes
    expectFormatError(bytes, 3, 'tokenizer.bin: truncated at token 2 (offset 34): needs 4 bytes, 2 left');
  });

  it('negative length', () => {
    const bytes = good.slice();
    new DataView(bytes.buffer).setInt32(21, -7, true); // token 1's length field
    expectFormatError(bytes, 3, 'tokenizer.bin: token 1 (offset 21) has negative length -7');
  });

  it('zero length (run.c fails its fread) and a piece longer than max_token_length', () => {
    const bytes = good.slice();
    new DataView(bytes.buffer).setInt32(21, 0, true);
    expectFormatError(
      bytes,
      3,
      'tokenizer.bin: token 1 (offset 21) has length 0; llama2.c cannot read an empty piece',
    );
    expectFormatError(
      tokenizerFile(4, [[0, '<unk>']]),
      1,
      'tokenizer.bin: token 0 (offset 8) has length 5, more than max_token_length 4',
    );
    expectFormatError(
      tokenizerFile(-1, [[0, 'a']]),
      1,
      'tokenizer.bin: max_token_length is -1 (offset 0); it must be at least 1',
    );
  });

  it('the real file read with too large a vocab size', () => {
    expectFormatError(
      tokenizerBytes,
      32001,
      `tokenizer.bin: truncated at token 32000 (offset ${tokenizerBytes.length}): needs 8 bytes (float32 score, int32 length), 0 left`,
    );
  });

  it('rejects a bad vocab size', () => {
    expect(() => Llama2cTokenizer.fromBytes(good, 0)).toThrow(RangeError);
    expect(() => Llama2cTokenizer.fromBytes(good, 2.5)).toThrow(RangeError);
  });

  describe('load', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'llama2c-tokenizer-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('names the path in errors', async () => {
      const missing = join(dir, 'missing.bin');
      await expect(Llama2cTokenizer.load(missing)).rejects.toThrow(
        `${missing}: cannot read tokenizer: ENOENT`,
      );
      const bad = join(dir, 'bad.bin');
      await writeFile(bad, good.subarray(0, 20));
      await expect(Llama2cTokenizer.load(bad, 3)).rejects.toThrow(
        new TokenizerFormatError(
          bad,
          'truncated at token 1 (offset 17): needs 8 bytes (float32 score, int32 length), 3 left',
        ),
      );
      await writeFile(bad, good);
      expect((await Llama2cTokenizer.load(bad, 3)).piece(1)).toBe(' ');
    });
  });
});
