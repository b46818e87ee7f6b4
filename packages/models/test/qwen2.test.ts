import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type StructuredMatrix, Tensor } from '@blastkit/core';
import { maxRelativeError } from '@blastkit/core/test';
import { lowRankFactorize } from '@blastkit/factorize';
import { describe, expect, it } from 'vitest';
import {
  type LlamaConfig,
  LlamaModel,
  llamaConfigFromHf,
  llamaWeightShapes,
  loadModel,
  openHfLlama,
  openHfQwen2,
  openModel,
  qwen2ConfigFromHf,
  qwen2ConfigToHf,
  readHfConfig,
  saveCompressedModel,
  type TensorSource,
} from '../src/index.js';
import { be, fixtures, golden, ids, logitsOf } from './llama-family-golden.js';

const folder = join(fixtures, 'tiny-qwen2');

describe('Qwen2 through the Llama adapter, against transformers', () => {
  it('tiny-qwen2: logits match Qwen2ForCausalLM to 1e-4 (q/k/v biases, 4 heads over 2 kv heads, tied head)', async () => {
    const { config, source } = await openHfQwen2(folder);
    expect(config).toMatchObject({ modelType: 'qwen2', numHeads: 4, numKvHeads: 2, tieWordEmbeddings: true });
    expect(config.ropeTheta).toBe(1e6);
    expect(config.slidingWindow).toBeUndefined();
    const shapes = llamaWeightShapes(config);
    expect(shapes.get('model.layers.0.self_attn.k_proj.bias')).toEqual([16]);
    expect(shapes.has('model.layers.0.self_attn.o_proj.bias')).toBe(false);
    const { out } = await logitsOf(source, config);
    expect(maxRelativeError(out, golden['tiny-qwen2'].flat())).toBeLessThan(1e-4);
    // the biases are read and used: without them the logits move well past the tolerance
    const { out: unbiased } = await logitsOf(source, { ...config, linearBiases: undefined });
    expect(maxRelativeError(unbiased, golden['tiny-qwen2'].flat())).toBeGreaterThan(1e-2);
    await source.close();
  });

  it("use_sliding_window: layers from max_window_layers on slide (transformers' layer_types), logits match", async () => {
    const json = {
      ...(await readHfConfig(folder)),
      use_sliding_window: true,
      sliding_window: 4,
      max_window_layers: 1,
      layer_types: undefined,
    };
    const config = qwen2ConfigFromHf(json);
    expect(config.slidingWindow).toBe(4);
    expect(config.slidingLayers).toEqual([false, true]);
    // written back, transformers reads the same layer types
    expect(qwen2ConfigToHf(config).layer_types).toEqual(['full_attention', 'sliding_attention']);
    expect(qwen2ConfigFromHf(qwen2ConfigToHf(config))).toEqual(config);
    const { source } = await openHfQwen2(folder);
    const { out } = await logitsOf(source, config);
    await source.close();
    expect(maxRelativeError(out, golden['tiny-qwen2-windowed'].flat())).toBeLessThan(1e-4);
    // sliding_window without use_sliding_window is ignored, as transformers ignores it
    expect(qwen2ConfigFromHf({ ...json, use_sliding_window: false }).slidingWindow).toBeUndefined();
  });

  it('decoding token by token through the KV cache gives the logits of the full pass', async () => {
    const { config, source } = await openHfQwen2(folder);
    const model = await LlamaModel.load(source, config, { backend: be });
    await source.close();
    const cache = model.newCache();
    be.dispose(model.forward(ids.subarray(0, 5), cache));
    for (let t = 5; t < ids.length; t++) {
      const step = await be.download(model.forward(ids.subarray(t, t + 1), cache));
      expect(maxRelativeError(step, golden['tiny-qwen2'][t])).toBeLessThan(1e-4);
    }
    model.disposeCache(cache);
    model.dispose();
  });

  it('a biased linear compressed to low rank runs through the load: its bias kept, equal to its dense product', async () => {
    const { config, source } = await openHfQwen2(folder);
    const name = 'model.layers.0.self_attn.k_proj';
    const W = await source.readTensor(`${name}.weight`);
    const cut = await lowRankFactorize(W, 3);
    const dense = await logitsOf(source, config);
    const lowRank = await logitsOf(source, config, {
      replacements: new Map<string, StructuredMatrix>([[name, cut]]),
    });
    // the same model with the low-rank product stored as a dense weight: what the factored forward must equal
    const product = await logitsOf(withTensor(source, `${name}.weight`, cut.toDense()), config);
    expect(maxRelativeError(lowRank.out, product.out.data)).toBeLessThan(1e-4);
    expect(maxRelativeError(lowRank.out, dense.out.data)).toBeGreaterThan(1e-3);
    expect(dense.params - lowRank.params).toBe(16 * 32 - 3 * (16 + 32));

    // a compression bias (ROM's) on a layer with its own bias adds to it
    const extra = new Tensor(
      [16],
      Float32Array.from({ length: 16 }, (_, i) => 0.1 * Math.sin(i)),
    );
    const own = await source.readTensor(`${name}.bias`);
    const summed = new Tensor(
      [16],
      own.data.map((v, i) => v + extra.data[i]),
    );
    const withExtra = await logitsOf(source, config, { biases: new Map([[name, extra]]) });
    const stored = await logitsOf(withTensor(source, `${name}.bias`, summed), config);
    expect(maxRelativeError(withExtra.out, stored.out.data)).toBeLessThan(1e-5);
    await source.close();
  });

  it('a compressed folder with a compression bias on a biased layer saves and reopens to the same logits', async () => {
    const opened = await openModel(folder);
    const name = 'model.layers.1.self_attn.q_proj';
    const cut = await lowRankFactorize(await opened.source.readTensor(`${name}.weight`), 4);
    const extra = new Tensor(
      [32],
      Float32Array.from({ length: 32 }, (_, i) => 0.05 * Math.cos(i)),
    );
    const replacements = new Map<string, StructuredMatrix>([[name, cut]]);
    const biases = new Map([[name, extra]]);
    const inMemory = await logitsOf(opened.source, opened.config as LlamaConfig, { replacements, biases });
    const out = join(await mkdtemp(join(tmpdir(), 'blastkit-qwen2-rom-')), 'out');
    try {
      await saveCompressedModel(out, opened, replacements, biases, { method: 'rom' });
      const reopened = await openModel(out);
      expect(reopened.architecture).toBe('qwen2');
      // the own bias and the compression's are stored as one, handed back as the structure's output bias
      expect(reopened.source.names()).not.toContain(`${name}.bias`);
      expect(reopened.biases.has(name)).toBe(true);
      const model = await loadModel(reopened, be);
      const logits = await be.download((model as LlamaModel).forward(ids, (model as LlamaModel).newCache()));
      expect(maxRelativeError(logits, inMemory.out.data)).toBeLessThan(1e-6);
      (model as LlamaModel).dispose();
      await reopened.source.close();
    } finally {
      await opened.source.close();
      await rm(dirname(out), { recursive: true, force: true });
    }
  });
});

describe('Qwen2 configs and the Llama reader', () => {
  it('a Qwen2 folder is not read as a Llama (its biases would be lost); Llama reads its own attention_bias', async () => {
    const json = await readHfConfig(folder);
    expect(() => llamaConfigFromHf(json, 'q/config.json')).toThrow(
      /q\/config.json: model_type 'qwen2' is read by qwen2ConfigFromHf, not as a Llama/,
    );
    await expect(openHfLlama(folder)).rejects.toThrow(/model_type is 'qwen2', expected 'llama'/);
    // transformers' LlamaConfig.attention_bias: q, k, v and o all biased; the Qwen2 weights lack o's, named
    const llama = llamaConfigFromHf({ ...json, model_type: 'llama', attention_bias: true });
    expect(llama.linearBiases).toEqual([
      'self_attn.q_proj',
      'self_attn.k_proj',
      'self_attn.v_proj',
      'self_attn.o_proj',
    ]);
    const { source } = await openHfQwen2(folder);
    await expect(LlamaModel.load(source, llama, { backend: be, file: 'w.safetensors' })).rejects.toThrow(
      /w.safetensors: missing weight 'model.layers.0.self_attn.o_proj.bias' \(shape \[32\]\)/,
    );
    await source.close();
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
