import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchAsset } from '@blastkit/assets';
import { beforeAll, describe, expect, it } from 'vitest';
import { HfTokenizer, ModelFormatError } from '../src/index.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const golden = JSON.parse(readFileSync(join(fixtures, 'hf-tokenizer-golden.json'), 'utf8')) as {
  cases: { text: string; ids: number[]; decoded: string }[];
};
let path: string;
beforeAll(async () => {
  path = (await fetchAsset('llama2-tokenizer-json'))['tokenizer.json'];
}, 120_000);

describe('HfTokenizer (tokenizer.json through @huggingface/tokenizers)', () => {
  it('encodes and decodes as the Python tokenizers library does', async () => {
    const tok = await HfTokenizer.load(path);
    for (const c of golden.cases) {
      expect(tok.encode(c.text), c.text).toEqual(c.ids);
      expect(tok.decode(c.ids), c.text).toBe(c.decoded);
    }
    expect(golden.cases.length).toBeGreaterThanOrEqual(10);
  });

  it('bos: true prepends the BOS id; loading from a folder works; a broken file names itself', async () => {
    const tok = await HfTokenizer.load(dirname(path));
    expect(tok.bosId).toBe(1);
    expect(tok.encode('Once', { bos: true })[0]).toBe(1);
    const bad = join(tmpdir(), `blastkit-bad-tokenizer-${process.pid}.json`);
    await writeFile(bad, '{"model": 3');
    await expect(HfTokenizer.load(bad)).rejects.toThrow(ModelFormatError);
    await expect(HfTokenizer.load(bad)).rejects.toThrow(/cannot read a tokenizer\.json/);
  });
});
