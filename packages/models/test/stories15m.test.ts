import { fetchAsset } from '@blastkit/assets';
import { CpuBackend } from '@blastkit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { generate, Llama2cCheckpoint, Llama2cTokenizer, LlamaModel } from '../src/index.js';

// The real pretrained model, fetched through the project's asset tool (pinned hashes, cached).
let files: Record<string, string>;
beforeAll(async () => {
  files = await fetchAsset('stories15M');
}, 180_000);

describe('stories15M (llama2.c v0 checkpoint)', () => {
  it('reads the header llama2.c writes for it', async () => {
    const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
    expect(ck.version).toBe(0);
    expect(ck.config).toMatchObject({
      hiddenSize: 288,
      intermediateSize: 768,
      numLayers: 6,
      numHeads: 6,
      numKvHeads: 6,
      vocabSize: 32000,
      maxPositionEmbeddings: 256,
      tieWordEmbeddings: true,
    });
    expect(ck.names()).toHaveLength(1 + 6 * 9 + 1);
    await ck.close();
  });

  it('greedy continuation of "Once upon a time" is the known text (assets.md)', async () => {
    const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
    const tokenizer = await Llama2cTokenizer.load(files['tokenizer.bin']);
    const model = await LlamaModel.load(ck, ck.config, { backend: new CpuBackend() });
    await ck.close();
    const prompt = tokenizer.encode('Once upon a time', { bos: true });
    expect(prompt).toEqual([1, 9038, 2501, 263, 931]);
    const tokens = await generate(model, prompt, { maxTokens: 24 });
    const text = tokenizer.decode([...prompt, ...tokens]);
    expect(text).toContain(
      'Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine.',
    );
    model.dispose();
  });
});
