import { join } from 'node:path';
import { type StructuredMatrix, Tensor } from '@blastkit/core';
import { maxRelativeError } from '@blastkit/core/test';
import { lowRankFactorize } from '@blastkit/factorize';
import { describe, expect, it } from 'vitest';
import {
  LlamaModel,
  mistralConfigFromHf,
  mistralConfigToHf,
  openHfMistral,
  readHfConfig,
  type TensorSource,
} from '../src/index.js';
import { be, fixtures, golden, ids, logitsOf } from './llama-family-golden.js';

const folder = join(fixtures, 'tiny-mistral');

describe('Mistral through the Llama adapter, against transformers', () => {
  it('tiny-mistral: logits match MistralForCausalLM to 1e-4 with its window of 4 over 12 tokens (head_dim 16)', async () => {
    const { config, source } = await openHfMistral(folder);
    expect(config).toMatchObject({ modelType: 'mistral', slidingWindow: 4, headDim: 16, numKvHeads: 2 });
    expect(ids.length).toBeGreaterThan(config.slidingWindow as number);
    const { out } = await logitsOf(source, config);
    expect(maxRelativeError(out, golden['tiny-mistral'].flat())).toBeLessThan(1e-4);
    // the window is exercised: the same weights without it give transformers' other table, far from this one
    const { out: full } = await logitsOf(source, { ...config, slidingWindow: undefined });
    await source.close();
    expect(maxRelativeError(full, golden['tiny-mistral-no-window'].flat())).toBeLessThan(1e-4);
    expect(maxRelativeError(full, golden['tiny-mistral'].flat())).toBeGreaterThan(1e-2);
  });

  it('through the KV cache, in chunks that cross the window and one token at a time past it, the logits stay', async () => {
    const { config, source } = await openHfMistral(folder);
    const model = await LlamaModel.load(source, config, { backend: be });
    await source.close();
    const cache = model.newCache();
    const rows: number[] = [];
    const run = async (from: number, to: number) => {
      rows.push(...(await be.download(model.forward(ids.subarray(from, to), cache))).data);
    };
    // 0–2 inside the window; 2–7 starts inside and ends past it; then single decode steps past it
    await run(0, 2);
    await run(2, 7);
    for (let t = 7; t < ids.length; t++) await run(t, t + 1);
    expect(cache.length).toBe(ids.length);
    model.disposeCache(cache);
    model.dispose();
    expect(maxRelativeError(new Tensor([ids.length, 64], rows), golden['tiny-mistral'].flat())).toBeLessThan(
      1e-4,
    );
  });

  it('an MLP linear compressed to low rank runs through the load and equals its dense product', async () => {
    const { config, source } = await openHfMistral(folder);
    const name = 'model.layers.1.mlp.down_proj';
    const cut = await lowRankFactorize(await source.readTensor(`${name}.weight`), 8);
    const dense = await logitsOf(source, config);
    const lowRank = await logitsOf(source, config, {
      replacements: new Map<string, StructuredMatrix>([[name, cut]]),
    });
    const product = await logitsOf(withTensor(source, `${name}.weight`, cut.toDense()), config);
    await source.close();
    expect(maxRelativeError(lowRank.out, product.out.data)).toBeLessThan(1e-4);
    expect(maxRelativeError(lowRank.out, dense.out.data)).toBeGreaterThan(1e-3);
    expect(dense.params - lowRank.params).toBe(32 * 64 - 8 * (32 + 64));
  });

  it("reads transformers' window defaults: absent is 4096 (Mistral 7B v0.1), null is full attention", async () => {
    const json = await readHfConfig(folder);
    const { sliding_window: _, ...absent } = json;
    expect(mistralConfigFromHf(absent).slidingWindow).toBe(4096);
    expect(mistralConfigFromHf({ ...json, sliding_window: null }).slidingWindow).toBeUndefined();
    expect(() => mistralConfigFromHf({ ...json, sliding_window: 0 }, 'm/config.json')).toThrow(
      /m\/config.json: 'sliding_window' must be a positive integer or null \(got 0\)/,
    );
    const config = mistralConfigFromHf(json);
    const written = mistralConfigToHf({ ...config, slidingWindow: undefined });
    // null must be written: left out, transformers would read the 4096 default
    expect(written.sliding_window).toBeNull();
    expect(mistralConfigFromHf(mistralConfigToHf(config))).toEqual(config);
  });
});

/** `source` with one tensor swapped for `t`. */
function withTensor(source: TensorSource, name: string, t: Tensor): TensorSource {
  return {
    names: () => source.names(),
    shapeOf: (n) => (n === name ? t.shape : source.shapeOf(n)),
    readTensor: async (n) => (n === name ? t : source.readTensor(n)),
    close: async () => {},
  };
}
