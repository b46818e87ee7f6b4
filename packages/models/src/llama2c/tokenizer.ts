import { readFile } from 'node:fs/promises';
import { ModelFormatError } from '../tensor-source.js';

/**
 * The llama2.c tokenizer: `tokenizer.bin` as Karpathy's llama2.c `run.c` reads it (`build_tokenizer`), and
 * `encode` / `decode` / `safe_printf` with the same results, token for token and byte for byte. Checked against
 * run.c itself compiled with gcc (`tools/fixtures/gen_llama2c_tokenizer.sh`).
 *
 * Pieces are handled as bytes throughout, and as run.c sees them: C strings, so a piece ends at its first NUL
 * (stories15M's raw-byte token 3 is the one-byte piece "\0", which run.c treats as the empty string).
 */

const BOS_ID = 1;
const EOS_ID = 2;
/** Raw-byte tokens follow `<unk>`, `<s>`, `</s>`: byte b is token b + 3 (run.c's byte fallback). */
const BYTE_FALLBACK_OFFSET = 3;
/** run.c's merge loop starts from `best_score = -1e10` and takes a pair only if its score is strictly greater. */
const MERGE_SCORE_FLOOR = -1e10;

/**
 * A tokenizer.bin that llama2.c could not read (or would read into garbage): names the file, token and offset.
 * A {@link ModelFormatError}, so whatever reports bad model files (the CLI's exit 2) reports it too.
 */
export class TokenizerFormatError extends ModelFormatError {
  constructor(file: string, problem: string) {
    super(file, problem);
    this.name = 'TokenizerFormatError';
  }
}

/** Options of {@link Llama2cTokenizer.encode}. */
export interface EncodeOptions {
  /** Prepend BOS (1). Default true: run.c's generate() and chat() always do. */
  bos?: boolean;
  /** Append EOS (2). Default false. */
  eos?: boolean;
}

/** Options of {@link Llama2cTokenizer.decode}. */
export interface DecodeOptions {
  /** Drop the one-byte pieces llama2.c's safe_printf drops (control bytes, raw bytes >= 0x80). Default true. */
  safePrintf?: boolean;
}

/** The bytes of a piece as a "binary string" (one char per byte), so Map keys and `<` compare like strcmp. */
function binaryString(bytes: Uint8Array, end = bytes.length): string {
  let s = '';
  // Chunked: fromCharCode(...bytes) on a long piece would overflow the argument stack.
  for (let i = 0; i < end; i += 4096) s += String.fromCharCode(...bytes.subarray(i, Math.min(end, i + 4096)));
  return s;
}

/** The C string a piece is to run.c: its bytes up to the first NUL. */
function cString(bytes: Uint8Array): Uint8Array {
  const nul = bytes.indexOf(0);
  return nul < 0 ? bytes : bytes.subarray(0, nul);
}

/** isspace() in the C locale (run.c never calls setlocale). */
function isCSpace(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d);
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  return -1;
}

/**
 * run.c's `sscanf(piece, "<0x%02hhX>", &byte_val) == 1`, as glibc evaluates it: after the literal `<0x`, %X skips
 * whitespace, then reads an optional sign and hex digits, 2 characters at most (too few for glibc's `0x` prefix to
 * matter). What follows, the closing `>` included, does not decide the return value, so `<0x4`, `<0x+A>` and
 * `<0x414>` are raw bytes too. Returns the byte, or -1 when the piece is not one.
 */
function scanRawByte(p: Uint8Array): number {
  if (p.length < 3 || p[0] !== 0x3c || p[1] !== 0x30 || p[2] !== 0x78) return -1;
  let i = 3;
  while (i < p.length && isCSpace(p[i])) i++;
  let width = 2;
  let negative = false;
  if (i < p.length && (p[i] === 0x2b || p[i] === 0x2d)) {
    negative = p[i] === 0x2d;
    i++;
    width--;
  }
  let digits = 0;
  let value = 0;
  for (; width > 0 && i < p.length && hexValue(p[i]) >= 0; i++, width--, digits++)
    value = value * 16 + hexValue(p[i]);
  if (digits === 0) return -1;
  return (negative ? -value : value) & 0xff; // stored through unsigned char
}

/** safe_printf's filter: a one-byte piece prints only if isprint or isspace (C locale); an empty one never. */
function printable(piece: Uint8Array): boolean {
  if (piece.length === 0) return false;
  if (piece.length > 1) return true;
  return (piece[0] >= 0x20 && piece[0] <= 0x7e) || isCSpace(piece[0]);
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** One candidate merge in {@link Llama2cTokenizer.encode}'s heap: the pair (left, right[left]) into `id`. */
interface Candidate {
  score: number;
  left: number;
  right: number;
  id: number;
  leftVersion: number;
  rightVersion: number;
}

/** Pops in run.c's order: highest score first, and on a tie the leftmost pair (its loop only takes `>`). */
function before(a: Candidate, b: Candidate): boolean {
  return a.score > b.score || (a.score === b.score && a.left < b.left);
}

function heapPush(heap: Candidate[], c: Candidate): void {
  let i = heap.push(c) - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(heap[i], heap[parent])) break;
    [heap[i], heap[parent]] = [heap[parent], heap[i]];
    i = parent;
  }
}

function heapPop(heap: Candidate[]): Candidate | undefined {
  const top = heap[0];
  const last = heap.pop();
  if (heap.length > 0 && last !== undefined) {
    heap[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && before(heap[l], heap[m])) m = l;
      if (r < heap.length && before(heap[r], heap[m])) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  }
  return top;
}

/**
 * A llama2.c `tokenizer.bin` vocabulary with run.c's encode() and decode(). Ids: 0 `<unk>`, 1 BOS, 2 EOS, then
 * 256 raw-byte tokens, then the merges.
 */
export class Llama2cTokenizer {
  readonly bosId = BOS_ID;
  readonly eosId = EOS_ID;
  /** Each piece's C string (see the module comment) as a binary string: what lookups and merges compare. */
  private readonly keys: string[];
  /** Each piece's C string as bytes: what decode() prints. */
  private readonly cPieces: Uint8Array[];

  private constructor(
    private readonly file: string,
    /** The file's declared longest piece, in bytes (every piece was checked against it). */
    readonly maxTokenLength: number,
    private readonly pieces: Uint8Array[],
    private readonly scores: Float32Array,
    private readonly ids: Map<string, number>,
  ) {
    this.cPieces = pieces.map(cString);
    this.keys = this.cPieces.map((p) => binaryString(p));
  }

  /** Parses a tokenizer.bin (little-endian int32 max_token_length, then per token float32 score, int32 len, bytes). */
  static fromBytes(bytes: Uint8Array, vocabSize = 32000): Llama2cTokenizer {
    return Llama2cTokenizer.parse(bytes, vocabSize, 'tokenizer.bin');
  }

  /** Reads and parses a tokenizer.bin file; errors name the path. */
  static async load(path: string, vocabSize = 32000): Promise<Llama2cTokenizer> {
    const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
      throw new TokenizerFormatError(path, `cannot read tokenizer: ${err.code ?? err.message}`);
    });
    return Llama2cTokenizer.parse(bytes, vocabSize, path);
  }

  private static parse(bytes: Uint8Array, vocabSize: number, file: string): Llama2cTokenizer {
    // run.c is told vocab_size by the model (the file does not record it) and reads exactly that many tokens;
    // bytes after them are ignored, as there.
    if (!Number.isInteger(vocabSize) || vocabSize < 1)
      throw new RangeError(`vocabSize must be a positive integer, got ${vocabSize}`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const fail = (problem: string): never => {
      throw new TokenizerFormatError(file, problem);
    };
    if (bytes.length < 4)
      fail(`truncated header (offset 0): needs 4 bytes (int32 max_token_length), ${bytes.length} left`);
    const maxTokenLength = view.getInt32(0, true);
    // Read as unsigned by run.c; a negative value would size its merge buffer from a wrapped number.
    if (maxTokenLength < 1) fail(`max_token_length is ${maxTokenLength} (offset 0); it must be at least 1`);
    const pieces: Uint8Array[] = [];
    const scores = new Float32Array(vocabSize);
    let offset = 4;
    for (let i = 0; i < vocabSize; i++) {
      const left = bytes.length - offset;
      if (left < 8)
        fail(
          `truncated at token ${i} (offset ${offset}): needs 8 bytes (float32 score, int32 length), ${left} left`,
        );
      scores[i] = view.getFloat32(offset, true);
      const len = view.getInt32(offset + 4, true);
      if (len < 0) fail(`token ${i} (offset ${offset + 4}) has negative length ${len}`);
      // fread(ptr, 0, 1, f) returns 0, so run.c's build_tokenizer stops with "failed read" on an empty piece.
      if (len === 0)
        fail(`token ${i} (offset ${offset + 4}) has length 0; llama2.c cannot read an empty piece`);
      // encode() concatenates two pieces into a buffer of 2 * max_token_length + 3 bytes: a longer piece overflows it.
      if (len > maxTokenLength)
        fail(
          `token ${i} (offset ${offset + 4}) has length ${len}, more than max_token_length ${maxTokenLength}`,
        );
      offset += 8;
      if (len > bytes.length - offset)
        fail(`truncated at token ${i} (offset ${offset}): needs ${len} bytes, ${bytes.length - offset} left`);
      pieces.push(bytes.slice(offset, offset + len));
      offset += len;
    }
    // encode() and decode() use ids 1 and 2 (BOS, EOS) whatever the file holds
    if (vocabSize <= EOS_ID)
      fail(`a vocabulary of ${vocabSize} tokens has no BOS (${BOS_ID}) and EOS (${EOS_ID}) tokens`);
    return new Llama2cTokenizer(file, maxTokenLength, pieces, scores, Llama2cTokenizer.lookupTable(pieces));
  }

  /**
   * Piece → id, as run.c's str_lookup answers: bsearch over the vocabulary qsort-ed by strcmp. A piece that occurs
   * more than once (stories15M has 204 such pairs: the raw-byte tokens of printable characters and the same
   * characters as ordinary pieces) maps to whichever copy bsearch lands on. glibc's qsort is a stable merge sort and
   * its bsearch probes midpoints, so that copy is found by running the same search here (other C libraries may
   * order equal keys differently; the fixture was made with glibc).
   */
  private static lookupTable(pieces: Uint8Array[]): Map<string, number> {
    const keys = pieces.map((p) => binaryString(cString(p)));
    const ids = new Map<string, number>();
    const duplicated = new Set<string>();
    keys.forEach((k, i) => {
      if (ids.has(k)) duplicated.add(k);
      else ids.set(k, i);
    });
    if (duplicated.size === 0) return ids;
    // Array.prototype.sort is stable, and comparing binary strings compares bytes as unsigned, like strcmp.
    const sorted = keys.map((_, i) => i).sort((a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : 0));
    for (const key of duplicated) {
      // glibc's bsearch, step for step: (lo + hi) / 2, return the first probe that compares equal.
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const probe = keys[sorted[mid]];
        if (key < probe) hi = mid;
        else if (key > probe) lo = mid + 1;
        else {
          ids.set(key, sorted[mid]);
          break;
        }
      }
    }
    return ids;
  }

  /** Number of tokens (run.c's vocab_size). */
  get vocabSize(): number {
    return this.pieces.length;
  }

  /** The piece of a token as stored in tokenizer.bin, UTF-8 decoded (bytes that are not UTF-8 become U+FFFD). */
  piece(id: number): string {
    return utf8Decoder.decode(this.pieces[this.checkId(id)]);
  }

  /** The raw bytes of a token's piece as stored in tokenizer.bin (a copy). */
  pieceBytes(id: number): Uint8Array {
    return this.pieces[this.checkId(id)].slice();
  }

  /** The merge score of a token. */
  score(id: number): number {
    return this.scores[this.checkId(id)];
  }

  /** run.c's str_lookup: the id of a piece (a string is UTF-8 encoded), or undefined when it is not in the vocab. */
  lookup(piece: string | Uint8Array): number | undefined {
    const bytes = typeof piece === 'string' ? utf8Encoder.encode(piece) : piece;
    return this.ids.get(binaryString(cString(bytes)));
  }

  /**
   * run.c's encode(): the text's UTF-8 bytes (up to a NUL, where the C string ends; lone surrogates become
   * U+FFFD), a dummy-prefix " " token when that is non-empty, one token per code point or per byte (+3) when the
   * code point is not a piece, then merges of the highest-scoring adjacent pair (leftmost on ties) until none is
   * left. run.c rescans every pair after each merge (quadratic); a heap gives the same merges in O(n log n).
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const { bos = true, eos = false } = options;
    let bytes = utf8Encoder.encode(text);
    const nul = bytes.indexOf(0);
    if (nul >= 0) bytes = bytes.subarray(0, nul);

    // BOS goes in first and takes part in the merges, as in run.c (a vocab could hold "\n<s>\n " and merge it).
    const tokens: number[] = bos ? [BOS_ID] : [];
    if (bytes.length > 0) tokens.push(this.requireId(' ', 'the dummy prefix'));
    // Group bytes as run.c does: a byte that is not a continuation (10xxxxxx) starts a group, continuation bytes
    // join it up to 4 bytes; stray continuations form groups of their own. Same loop, so same groups on bad UTF-8.
    const group = new Uint8Array(4);
    let len = 0;
    for (let i = 0; i < bytes.length; i++) {
      if ((bytes[i] & 0xc0) !== 0x80) len = 0;
      group[len++] = bytes[i];
      const next = i + 1 < bytes.length ? bytes[i + 1] : 0;
      if ((next & 0xc0) === 0x80 && len < 4) continue;
      const id = this.ids.get(binaryString(group, len));
      if (id !== undefined) tokens.push(id);
      else for (let k = 0; k < len; k++) tokens.push(this.byteToken(group[k]));
      len = 0;
    }

    this.mergePairs(tokens);
    if (eos) tokens.push(EOS_ID);
    return tokens;
  }

  /**
   * The merge loop of run.c's encode() on `tokens` (in place). Tokens form a linked list whose nodes keep their
   * original index; a merge keeps the left node, so node order is sequence order and "leftmost" is "smallest
   * node". Candidates are pushed whenever a pair becomes adjacent and skipped when popped stale (a version changed).
   */
  private mergePairs(tokens: number[]): void {
    const n = tokens.length;
    if (n < 2) return;
    const right = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const version = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    const heap: Candidate[] = [];
    const consider = (left: number): void => {
      const r = right[left];
      if (r < 0) return;
      const id = this.ids.get(this.keys[tokens[left]] + this.keys[tokens[r]]);
      // NaN scores fail this test too, as they fail run.c's `>`.
      if (id === undefined || !(this.scores[id] > MERGE_SCORE_FLOOR)) return;
      heapPush(heap, {
        score: this.scores[id],
        left,
        right: r,
        id,
        leftVersion: version[left],
        rightVersion: version[r],
      });
    };
    const leftOf = new Int32Array(n).map((_, i) => i - 1);
    for (let i = 0; i + 1 < n; i++) consider(i);
    for (let c = heapPop(heap); c !== undefined; c = heapPop(heap)) {
      const { left, right: r } = c;
      if (
        !alive[left] ||
        !alive[r] ||
        right[left] !== r ||
        version[left] !== c.leftVersion ||
        version[r] !== c.rightVersion
      )
        continue;
      tokens[left] = c.id;
      version[left]++;
      alive[r] = 0;
      right[left] = right[r];
      if (right[r] >= 0) leftOf[right[r]] = left;
      if (leftOf[left] >= 0) consider(leftOf[left]);
      consider(left);
    }
    let w = 0;
    for (let i = 0; i >= 0 && i < n; i = right[i]) tokens[w++] = tokens[i];
    tokens.length = w;
  }

  /**
   * run.c's decode(prev, token) as bytes: the piece (a C string), without its leading space right after BOS, or
   * the single byte a `<0xHH>` piece stands for (byte 0 gives an empty piece, as its C string is "").
   */
  decodeTokenBytes(prev: number, token: number): Uint8Array {
    let piece = this.cPieces[this.checkId(token)];
    if (prev === BOS_ID && piece[0] === 0x20) piece = piece.subarray(1);
    const byte = scanRawByte(piece);
    if (byte === 0) return new Uint8Array(0);
    return byte > 0 ? Uint8Array.of(byte) : piece.slice();
  }

  /**
   * run.c's decode(prev, token) as a string. A piece can be part of a UTF-8 sequence (a raw byte from the byte
   * fallback), which a string cannot hold (it shows as U+FFFD): decode whole sequences with {@link decode}.
   */
  decodeToken(prev: number, token: number): string {
    return utf8Decoder.decode(this.decodeTokenBytes(prev, token));
  }

  /**
   * What llama2.c prints for a token sequence: generate() starts from BOS and prints each following token through
   * safe_printf(decode(prev, token)). So a BOS prints nothing and strips the next piece's leading space (the first
   * token has no previous one), EOS prints its piece ("\n</s>\n" in stories15M's file), and a one-byte piece that
   * is neither printable nor whitespace in the C locale is dropped: control bytes, and also every raw byte
   * >= 0x80, so with `<0xHH>` vocabularies a character that fell back to bytes does not print (stories15M's file
   * stores raw bytes as the code points U+0080..U+00FF instead, which print as mojibake). The pieces' bytes are
   * joined and UTF-8 decoded once, so a character split over pieces comes out whole. `safePrintf: false` keeps the
   * one-byte pieces safe_printf drops, which reassembles byte-fallback characters (not what llama2.c prints).
   */
  decode(tokens: readonly number[], options: DecodeOptions = {}): string {
    const { safePrintf = true } = options;
    const parts: Uint8Array[] = [];
    let total = 0;
    tokens.forEach((token, i) => {
      this.checkId(token);
      if (token === BOS_ID) return;
      const piece = this.decodeTokenBytes(i > 0 ? tokens[i - 1] : -1, token);
      if (safePrintf ? !printable(piece) : piece.length === 0) return;
      parts.push(piece);
      total += piece.length;
    });
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.length;
    }
    return utf8Decoder.decode(bytes);
  }

  private byteToken(byte: number): number {
    const id = byte + BYTE_FALLBACK_OFFSET;
    if (id >= this.pieces.length)
      throw new TokenizerFormatError(
        this.file,
        `byte fallback needs token ${id}, past the vocabulary of ${this.pieces.length}`,
      );
    return id;
  }

  private requireId(piece: string, what: string): number {
    const id = this.lookup(piece);
    if (id === undefined)
      throw new TokenizerFormatError(this.file, `no ${JSON.stringify(piece)} piece for ${what}`);
    return id;
  }

  private checkId(id: number): number {
    if (!Number.isInteger(id) || id < 0 || id >= this.pieces.length)
      throw new RangeError(`token id ${id} is outside the vocabulary (0..${this.pieces.length - 1})`);
    return id;
  }
}
