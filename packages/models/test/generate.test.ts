import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuBackend, InvalidArgumentError } from '@blastkit/core';
import { describe, expect, it } from 'vitest';
import {
  generate,
  gpt2ConfigFromHf,
  LlamaModel,
  llamaConfigFromHf,
  llamaConfigToHf,
  ModelFormatError,
  openHfLlama,
} from '../src/index.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const be = new CpuBackend();
const configJson = (name: string) => JSON.parse(readFileSync(join(fixtures, name, 'config.json'), 'utf8'));

async function tinyLlama(overrides: { eosTokenId?: number; eosTokenIds?: number[] } = {}) {
  const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama'));
  try {
    return await LlamaModel.load(source, { ...config, ...overrides }, { backend: be });
  } finally {
    await source.close();
  }
}

describe('eos_token_id lists (Llama 3 style)', () => {
  it('config.json: a list gives every id (the first as eosTokenId), and saves back as a list', () => {
    const c = llamaConfigFromHf({ ...configJson('tiny-llama'), eos_token_id: [128001, 128008, 128009] });
    expect(c.eosTokenId).toBe(128001);
    expect(c.eosTokenIds).toEqual([128001, 128008, 128009]);
    expect(llamaConfigToHf(c).eos_token_id).toEqual([128001, 128008, 128009]);
    const one = llamaConfigFromHf(configJson('tiny-llama'));
    expect([one.eosTokenId, one.eosTokenIds]).toEqual([2, undefined]);
    expect(llamaConfigToHf(one).eos_token_id).toBe(2);
    const g = gpt2ConfigFromHf({ ...configJson('tiny-gpt2'), eos_token_id: [5, 1] });
    expect([g.eosTokenId, g.eosTokenIds]).toEqual([5, [5, 1]]);
  });

  it('config.json: an EOS that is not an id or a list of ids is a ModelFormatError naming the file', () => {
    for (const bad of ['</s>', [1, 'x'], -1, 1.5, { id: 2 }])
      expect(() =>
        llamaConfigFromHf({ ...configJson('tiny-llama'), eos_token_id: bad }, 'dir/config.json'),
      ).toThrow(
        new ModelFormatError(
          'dir/config.json',
          `'eos_token_id' must be a token id or a list of them (got ${JSON.stringify(bad)})`,
        ),
      );
  });

  it('generation stops at any id of the list, not only the first', async () => {
    const prompt = [1, 5, 17];
    const free = await tinyLlama({ eosTokenId: undefined });
    const run = await generate(free, prompt, { maxTokens: 6 });
    free.dispose();
    expect(run).toHaveLength(6);
    // the second greedy token as the list's second EOS: generation ends there
    const other = (run[1] + 1) % 64;
    const listed = await tinyLlama({ eosTokenId: other, eosTokenIds: [other, run[1]] });
    expect(await generate(listed, prompt, { maxTokens: 6 })).toEqual(run.slice(0, 2));
    // an explicit stopToken replaces the list
    expect(await generate(listed, prompt, { maxTokens: 6, stopToken: -1 })).toEqual(run);
    listed.dispose();
  });
});

describe('prompts and the context', () => {
  it('a prompt longer than the context is refused (it would produce nothing), one of exactly the context runs', async () => {
    const model = await tinyLlama();
    expect(model.config.maxPositionEmbeddings).toBe(64);
    const tooLong = new Array(65).fill(3);
    await expect(generate(model, tooLong, { maxTokens: 4, stopToken: -1 })).rejects.toThrow(
      InvalidArgumentError,
    );
    await expect(generate(model, tooLong, { maxTokens: 4, stopToken: -1 })).rejects.toThrow(
      "the prompt has 65 tokens but the model's context is 64; shorten it to at most 64",
    );
    expect(await generate(model, new Array(64).fill(3), { maxTokens: 4, stopToken: -1 })).toHaveLength(1);
    model.dispose();
  });
});
