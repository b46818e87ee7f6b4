// Property-based tests of the model-side readers: llama2.c checkpoints and tokenizer.bin, Hugging Face
// tokenizer.json and tokenizer_config.json. From valid files, mutated bytes, edited JSON and generated headers,
// each either loads (and then encodes, decodes, reads every tensor) or throws a ModelFormatError naming the
// file — never a TypeError, RangeError or SyntaxError, never a hang, never a leaked file handle.
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HfTokenizer, Llama2cCheckpoint, Llama2cTokenizer, ModelFormatError } from '../src/index.js';
import { readChunked } from '../src/llama2c/checkpoint.js';
import {
  editJson,
  expectFileError,
  FUZZ_PARAMS,
  FUZZ_RUNS,
  jsonEditsArb,
  mutate,
  mutationsArb,
  openFileCount,
} from './fuzz-harness.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
let dir: string;
let counter = 0;
/** A fresh folder per case: a failing case's files stay readable until the suite ends. */
async function caseDir(): Promise<string> {
  const d = join(dir, `case-${counter++}`);
  await mkdir(d);
  return d;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-models-fuzz-'));
});
// thousands of case folders: removing them takes seconds on a loaded machine (the 10 s default hook timeout
// failed a CI run)
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
}, 120_000);

/** Runs `load`: it succeeds, or fails with a ModelFormatError whose message starts with one of `files`. */
async function loadsOrNamesFile(
  load: () => Promise<void>,
  files: readonly string[],
): Promise<'ok' | 'rejected'> {
  try {
    await load();
    return 'ok';
  } catch (err) {
    expectFileError(err, [ModelFormatError], files);
    return 'rejected';
  }
}

async function withoutLeaks(run: () => Promise<void>): Promise<void> {
  const before = openFileCount();
  await run();
  expect(openFileCount()).toBe(before);
}

describe(`llama2.c checkpoint fuzz (${FUZZ_RUNS} cases per property)`, () => {
  const v0 = new Uint8Array(readFileSync(join(fixtures, 'tiny-llama-v0.bin')));
  const v1 = new Uint8Array(readFileSync(join(fixtures, 'tiny-llama-v1.bin')));

  async function readAll(path: string): Promise<void> {
    const ck = await Llama2cCheckpoint.open(path);
    try {
      for (const name of ck.names()) await ck.readTensor(name);
    } finally {
      await ck.close();
    }
  }

  it('mutated v0 and v1 files (header fields, truncation): read, or a ModelFormatError naming the file', async () => {
    let rejected = 0;
    await withoutLeaks(() =>
      fc.assert(
        fc.asyncProperty(
          fc.boolean(),
          fc.oneof(mutationsArb(), mutationsArb(40)),
          async (useV1, mutations) => {
            const path = join(await caseDir(), 'model.bin');
            await writeFile(path, mutate(useV1 ? v1 : v0, mutations));
            if ((await loadsOrNamesFile(() => readAll(path), [path])) === 'rejected') rejected++;
          },
        ),
        FUZZ_PARAMS,
      ),
    );
    expect(rejected).toBeGreaterThan(FUZZ_RUNS / 4);
  });

  it('generated headers (any 7 int32 fields, file any size): a ModelFormatError, never a huge allocation', async () => {
    const field = fc.oneof(
      fc.integer({ min: -2, max: 70 }),
      fc.constantFrom(2 ** 24 - 1, 2 ** 24, 2 ** 31 - 1, -(2 ** 31), 1 << 20, 4096),
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    );
    await withoutLeaks(() =>
      fc.assert(
        fc.asyncProperty(
          fc.boolean(),
          fc.array(field, { minLength: 7, maxLength: 7 }),
          fc.integer({ min: 0, max: 4096 }),
          async (useV1, fields, body) => {
            const header = new DataView(new ArrayBuffer(useV1 ? 256 : 28));
            const at = useV1 ? 8 : 0;
            if (useV1) {
              header.setUint32(0, 0x616b3432, true);
              header.setInt32(4, 1, true);
            }
            for (const [i, v] of fields.entries()) header.setInt32(at + 4 * i, v, true);
            const path = join(await caseDir(), 'model.bin');
            await writeFile(path, Buffer.concat([new Uint8Array(header.buffer), new Uint8Array(body)]));
            await loadsOrNamesFile(() => readAll(path), [path]);
          },
        ),
        FUZZ_PARAMS,
      ),
    );
  });

  it('reads tensors in chunks (as for tensors of 2 GiB or more): same values with a 60-byte chunk', async () => {
    const path = join(fixtures, 'tiny-llama-v1.bin');
    const whole = await Llama2cCheckpoint.open(path);
    const chunked = await Llama2cCheckpoint.open(path);
    chunked.chunkBytes = 60;
    try {
      for (const name of whole.names())
        expect((await chunked.readTensor(name)).data, name).toEqual((await whole.readTensor(name)).data);
    } finally {
      await whole.close();
      await chunked.close();
    }
    // the loop itself: every read at most the chunk, the whole length covered, a short file stops it
    const asked: number[] = [];
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
    const handle = {
      read: async (buf: Uint8Array, off: number, len: number, pos: number) => {
        asked.push(len);
        const n = Math.max(0, Math.min(len, bytes.length - pos));
        buf.set(bytes.subarray(pos, pos + n), off);
        return { bytesRead: n, buffer: buf };
      },
    } as unknown as Parameters<typeof readChunked>[0];
    const out = new Uint8Array(700);
    expect(await readChunked(handle, out, 100, 128)).toBe(700);
    expect(out).toEqual(bytes.subarray(100, 800));
    expect(Math.max(...asked)).toBe(128);
    expect(await readChunked(handle, new Uint8Array(700), 500, 128)).toBe(500);
  });
});

describe(`tokenizer.bin fuzz (${FUZZ_RUNS} cases per property)`, () => {
  const synthetic = JSON.parse(readFileSync(join(fixtures, 'llama2c-tokenizer.json'), 'utf8')).synthetic as {
    tokenizerBase64: string;
    vocabSize: number;
  };
  const valid = new Uint8Array(Buffer.from(synthetic.tokenizerBase64, 'base64'));

  async function useTokenizer(path: string, vocab: number, text: string): Promise<void> {
    const tok = await Llama2cTokenizer.load(path, vocab);
    const ids = tok.encode(text);
    expect(typeof tok.decode(ids)).toBe('string');
  }

  it('mutated files, read with the right or a wrong vocab size: load and encode, or a ModelFormatError naming the file', async () => {
    let rejected = 0;
    await withoutLeaks(() =>
      fc.assert(
        fc.asyncProperty(
          fc.oneof(mutationsArb(), mutationsArb(64)),
          fc.constantFrom(synthetic.vocabSize, synthetic.vocabSize, 3, 259, 32000),
          fc.string({ maxLength: 12 }),
          async (mutations, vocab, text) => {
            const path = join(await caseDir(), 'tokenizer.bin');
            await writeFile(path, mutate(valid, mutations));
            if ((await loadsOrNamesFile(() => useTokenizer(path, vocab, text), [path])) === 'rejected')
              rejected++;
          },
        ),
        FUZZ_PARAMS,
      ),
    );
    expect(rejected).toBeGreaterThan(0);
  });

  it('generated records (scores, lengths, pieces): load and encode, or a ModelFormatError naming the file', async () => {
    const record = fc.record({
      score: fc.float({ noNaN: false }),
      length: fc.oneof(fc.integer({ min: -2, max: 6 }), fc.constantFrom(2 ** 31 - 1, -(2 ** 31))),
      piece: fc.uint8Array({ maxLength: 6 }),
    });
    await withoutLeaks(() =>
      fc.assert(
        fc.asyncProperty(
          fc.oneof(fc.integer({ min: -1, max: 8 }), fc.constantFrom(2 ** 31 - 1, -(2 ** 31))),
          fc.array(record, { maxLength: 12 }),
          fc.integer({ min: 1, max: 14 }),
          fc.string({ maxLength: 8 }),
          async (maxLen, records, vocab, text) => {
            const parts: Uint8Array[] = [];
            const head = new DataView(new ArrayBuffer(4));
            head.setInt32(0, maxLen, true);
            parts.push(new Uint8Array(head.buffer));
            for (const r of records) {
              const v = new DataView(new ArrayBuffer(8));
              v.setFloat32(0, r.score, true);
              v.setInt32(4, r.length, true);
              parts.push(new Uint8Array(v.buffer), r.piece);
            }
            const path = join(await caseDir(), 'tokenizer.bin');
            await writeFile(path, Buffer.concat(parts));
            await loadsOrNamesFile(() => useTokenizer(path, vocab, text), [path]);
          },
        ),
        FUZZ_PARAMS,
      ),
    );
  });
});

/** A small byte-level-free BPE tokenizer.json @huggingface/tokenizers builds: "hello" merges to one token. */
const tokenizerJson = {
  version: '1.0',
  added_tokens: [
    { id: 0, content: '<unk>', special: true },
    { id: 1, content: '<s>', special: true },
    { id: 2, content: '</s>', special: true },
  ],
  normalizer: null,
  pre_tokenizer: { type: 'Whitespace' },
  post_processor: null,
  decoder: null,
  model: {
    type: 'BPE',
    unk_token: '<unk>',
    vocab: {
      '<unk>': 0,
      '<s>': 1,
      '</s>': 2,
      h: 3,
      e: 4,
      l: 5,
      o: 6,
      w: 7,
      r: 8,
      d: 9,
      he: 10,
      ll: 11,
      hell: 12,
      hello: 13,
    },
    merges: ['h e', 'l l', 'he ll', 'hell o'],
  },
};
const tokenizerConfig = {
  bos_token: '<s>',
  eos_token: { content: '</s>' },
  add_bos_token: true,
  model_max_length: 64,
};

describe(`tokenizer.json and tokenizer_config.json fuzz (${FUZZ_RUNS} cases per property)`, () => {
  async function useTokenizer(folder: string): Promise<void> {
    const tok = await HfTokenizer.load(join(folder, 'tokenizer.json'));
    const ids = tok.encode('hello world <s>', { bos: true });
    expect(typeof tok.decode(ids)).toBe('string');
  }

  it('the valid pair loads: BOS and EOS from the config, "hello" one token', async () => {
    const folder = await caseDir();
    await writeFile(join(folder, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    await writeFile(join(folder, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
    const tok = await HfTokenizer.load(folder);
    expect([tok.bosId, tok.eosId]).toEqual([1, 2]);
    expect(tok.encode('hello', { bos: true })).toEqual([1, 13]);
  });

  it('edited tokenizer.json (and cut-off text): load and encode, or a ModelFormatError naming it', async () => {
    let rejected = 0;
    await withoutLeaks(() =>
      fc.assert(
        fc.asyncProperty(jsonEditsArb, fc.option(fc.nat(), { freq: 8 }), async (edits, cut) => {
          const folder = await caseDir();
          const text = JSON.stringify(editJson(tokenizerJson, edits)) ?? '';
          await writeFile(
            join(folder, 'tokenizer.json'),
            cut === null ? text : text.slice(0, cut % (text.length + 1)),
          );
          await writeFile(join(folder, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
          const outcome = await loadsOrNamesFile(
            () => useTokenizer(folder),
            [join(folder, 'tokenizer.json')],
          );
          if (outcome === 'rejected') rejected++;
        }),
        FUZZ_PARAMS,
      ),
    );
    expect(rejected).toBeGreaterThan(0);
  });

  it('edited tokenizer_config.json (and cut-off text): load and encode, or a ModelFormatError naming it', async () => {
    let rejected = 0;
    await withoutLeaks(() =>
      fc.assert(
        fc.asyncProperty(jsonEditsArb, fc.option(fc.nat(), { freq: 8 }), async (edits, cut) => {
          const folder = await caseDir();
          const text = JSON.stringify(editJson(tokenizerConfig, edits)) ?? '';
          await writeFile(join(folder, 'tokenizer.json'), JSON.stringify(tokenizerJson));
          await writeFile(
            join(folder, 'tokenizer_config.json'),
            cut === null ? text : text.slice(0, cut % (text.length + 1)),
          );
          const outcome = await loadsOrNamesFile(
            () => useTokenizer(folder),
            [join(folder, 'tokenizer.json'), join(folder, 'tokenizer_config.json')],
          );
          if (outcome === 'rejected') rejected++;
        }),
        FUZZ_PARAMS,
      ),
    );
    expect(rejected).toBeGreaterThan(0);
  });
});
