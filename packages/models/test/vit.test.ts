import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuBackend, DenseMatrix, ShapeError, type StructuredMatrix, Tensor } from '@blastkit/core';
import { maxRelativeError } from '@blastkit/core/test';
import { lowRankFactorize } from '@blastkit/factorize';
import { writeSafetensors } from '@blastkit/safetensors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelFormatError } from '../src/tensor-source.js';
import { VIT_LINEAR_MODULES, vitConfigFromHf, vitWeightShapes } from '../src/vit/config.js';
import { openHfVit, patchify, VitModel } from '../src/vit/model.js';

/** Largest relative error against the golden logits: the README's "~2e-7": measured 1.1e-7 to 2.3e-7 on the CPU backend, so 3e-7 bounds it with little room. */
const TOLERANCE = 3e-7;

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const tinyVit = join(fixtures, 'tiny-vit');
const golden = JSON.parse(readFileSync(join(fixtures, 'vit-golden.json'), 'utf8')) as {
  pixelsShape: number[];
  pixels: number[];
  logits: number[][];
};
const pixels = new Tensor(golden.pixelsShape, Float32Array.from(golden.pixels));
const hfJson = JSON.parse(readFileSync(join(tinyVit, 'config.json'), 'utf8')) as Record<string, unknown>;
const be = new CpuBackend();

/** Max |a − b| / max |b| over the whole table (core's maxRelativeError on the flattened rows). */
const relativeMaxError = (got: Tensor, table: number[][]) => maxRelativeError(got, table.flat());

async function logitsOf(replacements?: ReadonlyMap<string, StructuredMatrix>, input = pixels) {
  const { config, source } = await openHfVit(tinyVit);
  const model = await VitModel.load(source, config, { backend: be, replacements });
  await source.close();
  const out = await be.download(model.forward(input));
  const params = model.linearParameterCount();
  model.dispose();
  return { out, params };
}

describe('ViT adapter against transformers', () => {
  it('reads the ViTForImageClassification config', async () => {
    const { config, source } = await openHfVit(tinyVit);
    await source.close();
    expect(config).toMatchObject({
      hiddenSize: 32,
      numLayers: 2,
      numHeads: 4,
      headDim: 8,
      intermediateSize: 64,
      activation: 'gelu',
      layerNormEps: 1e-12,
      imageSize: 16,
      patchSize: 4,
      numChannels: 3,
      qkvBias: true,
      numLabels: 10,
    });
    expect(config.labels[9]).toBe('LABEL_9');
    expect(vitWeightShapes(config).get('vit.embeddings.position_embeddings')).toEqual([1, 17, 32]);
  });

  it('logits of a batch of 2 images match ViTForImageClassification to 3e-7', async () => {
    const { out } = await logitsOf();
    expect(out.shape).toEqual([2, 10]);
    const err = relativeMaxError(out, golden.logits);
    expect(err).toBeLessThan(TOLERANCE);
  });

  it('each image alone gives its row of the batched logits (no attention across images)', async () => {
    const per = pixels.size / 2;
    for (let b = 0; b < 2; b++) {
      const one = new Tensor([1, 3, 16, 16], pixels.data.slice(b * per, (b + 1) * per));
      const { out } = await logitsOf(undefined, one);
      expect(out.shape).toEqual([1, 10]);
      expect(relativeMaxError(out, [golden.logits[b]])).toBeLessThan(TOLERANCE);
    }
  });

  it('patches are cut row-major over the grid and flattened in (channel, y, x) order', () => {
    const config = vitConfigFromHf({ ...hfJson, image_size: 4, patch_size: 2, num_channels: 2 });
    // pixel value = 1000·channel + 10·y + x
    const img = new Tensor(
      [1, 2, 4, 4],
      Float32Array.from({ length: 32 }, (_, i) => 1000 * (i >> 4) + 10 * ((i >> 2) & 3) + (i & 3)),
    );
    const p = patchify(img, config);
    expect(p.shape).toEqual([4, 8]);
    // patch 1 is the top-right one: y 0–1, x 2–3
    expect(Array.from(p.data.subarray(8, 16))).toEqual([2, 3, 12, 13, 1002, 1003, 1012, 1013]);
  });

  it('runs with linears replaced by structured matrices, through their factored forward', async () => {
    const name = 'vit.encoder.layer.1.intermediate.dense';
    const { source } = await openHfVit(tinyVit);
    const W = await source.readTensor(`${name}.weight`);
    await source.close();
    // full-rank low-rank factors reproduce the layer; rank 4 changes the logits
    const exact = await logitsOf(new Map([[name, await lowRankFactorize(W, 32)]]));
    expect(relativeMaxError(exact.out, golden.logits)).toBeLessThan(TOLERANCE);
    const cut = await logitsOf(new Map([[name, await lowRankFactorize(W, 4)]]));
    expect(relativeMaxError(cut.out, golden.logits)).toBeGreaterThan(1e-3);
    expect(exact.params - cut.params).toBe((32 - 4) * (64 + 32));
    const dense = await logitsOf();
    expect(dense.params).toBe(2 * (4 * 32 * 32 + 2 * 32 * 64));
    expect(VIT_LINEAR_MODULES).toHaveLength(6);
  });

  it('the patch embedding is a replaceable linear over (C, p, p)-flattened patches', async () => {
    const name = 'vit.embeddings.patch_embeddings.projection';
    const { source } = await openHfVit(tinyVit);
    const conv = (await source.readTensor(`${name}.weight`)).reshape([32, 48]);
    await source.close();
    const exact = await logitsOf(new Map([[name, await lowRankFactorize(conv, 32)]]));
    expect(relativeMaxError(exact.out, golden.logits)).toBeLessThan(TOLERANCE);
    const cut = await logitsOf(new Map([[name, await lowRankFactorize(conv, 2)]]));
    expect(relativeMaxError(cut.out, golden.logits)).toBeGreaterThan(1e-3);
  });

  it('a replacement of the wrong shape, or for a module that is not a linear, is refused', async () => {
    const { config, source } = await openHfVit(tinyVit);
    const name = 'vit.encoder.layer.0.intermediate.dense';
    await expect(
      VitModel.load(source, config, {
        replacements: new Map([[name, new DenseMatrix(new Tensor([32, 64]))]]),
      }),
    ).rejects.toThrow(
      /replacement for 'vit.encoder.layer.0.intermediate.dense' has shape \[32,64\], expected \[64,32\]/,
    );
    await expect(
      VitModel.load(source, config, {
        replacements: new Map([['vit.layernorm', new DenseMatrix(new Tensor([32, 32]))]]),
      }),
    ).rejects.toThrow(/no linear 'vit.layernorm' to replace/);
    await source.close();
  });

  it('an image of the wrong size, channel count or rank is refused with the shape expected', async () => {
    const { config, source } = await openHfVit(tinyVit);
    const model = await VitModel.load(source, config, { backend: be });
    await source.close();
    expect(() => model.forward(new Tensor([2, 3, 8, 8]))).toThrow(ShapeError);
    expect(() => model.forward(new Tensor([2, 3, 8, 8]))).toThrow(
      /ViT input pixels have shape \[2,3,8,8\], expected \[batch, 3, 16, 16\]/,
    );
    expect(() => model.forward(new Tensor([1, 1, 16, 16]))).toThrow(
      /shape \[1,1,16,16\], expected \[batch, 3, 16, 16\]/,
    );
    expect(() => model.forward(new Tensor([3, 16, 16]))).toThrow(
      /shape \[3,16,16\], expected \[batch, 3, 16, 16\]/,
    );
    expect(() => model.forward(new Tensor([0, 3, 16, 16]))).toThrow(/no images/);
    model.dispose();
  });
});

describe('bad ViT configs and weight files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'blastkit-vit-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a config that cannot describe a ViT says which field is wrong', () => {
    expect(() => vitConfigFromHf({ ...hfJson, num_attention_heads: 5 }, 'cfg.json')).toThrow(
      /cfg.json: hidden_size 32 is not a multiple of num_attention_heads 5/,
    );
    expect(() => vitConfigFromHf({ ...hfJson, hidden_size: 0 })).toThrow(
      /config.json: 'hidden_size' must be a positive integer \(got 0\)/,
    );
    expect(() => vitConfigFromHf({ ...hfJson, hidden_act: 'quick_gelu' })).toThrow(
      /hidden_act "quick_gelu" is not supported \(gelu, gelu_new/,
    );
    expect(() => vitConfigFromHf({ ...hfJson, model_type: 'deit' })).toThrow(
      /model_type is 'deit', expected 'vit'/,
    );
    expect(() => vitConfigFromHf({ ...hfJson, image_size: [16, 32] })).toThrow(
      /'image_size' is \[16,32\]; only square sizes/,
    );
    expect(() => vitConfigFromHf({ ...hfJson, layer_norm_eps: -1 })).toThrow(
      /'layer_norm_eps' must be a positive number/,
    );
    expect(() => vitConfigFromHf({ ...hfJson, id2label: { 0: 'cat', 2: 'dog' } })).toThrow(
      /'id2label' key '2' is not a class index in \[0, 2\)/,
    );
    expect(() => vitConfigFromHf({ ...hfJson, patch_size: 32 })).toThrow(
      /patch_size 32 is larger than image_size 16/,
    );
    // transformers' other spellings: a [n, n] image size, labels from num_labels, tanh GELU
    const alt = vitConfigFromHf({
      ...hfJson,
      image_size: [16, 16],
      id2label: undefined,
      num_labels: 3,
      hidden_act: 'gelu_pytorch_tanh',
    });
    expect(alt).toMatchObject({ imageSize: 16, numLabels: 3, activation: 'gelu_tanh' });
    expect(alt.labels).toEqual(['LABEL_0', 'LABEL_1', 'LABEL_2']);
  });

  it('a weight of the wrong shape, and a missing one, are named with the shape expected', async () => {
    const { source } = await openHfVit(tinyVit);
    const tensors: Record<string, Tensor> = {};
    for (const name of source.names()) tensors[name] = await source.readTensor(name);
    await source.close();
    const bad = 'vit.encoder.layer.0.intermediate.dense.weight';
    tensors[bad] = new Tensor([32, 64], tensors[bad].data);
    delete tensors['classifier.bias'];
    await writeFile(join(dir, 'config.json'), JSON.stringify(hfJson));
    await writeSafetensors(join(dir, 'model.safetensors'), tensors);
    const opened = await openHfVit(dir);
    await expect(VitModel.load(opened.source, opened.config, { file: 'broken.safetensors' })).rejects.toThrow(
      "broken.safetensors: weight 'vit.encoder.layer.0.intermediate.dense.weight' has shape [32,64], " +
        'expected [64,32]',
    );
    tensors[bad] = new Tensor([64, 32], tensors[bad].data);
    await writeSafetensors(join(dir, 'model.safetensors'), tensors);
    await opened.source.close();
    const again = await openHfVit(dir);
    await expect(VitModel.load(again.source, again.config)).rejects.toThrow(
      /missing weight 'classifier.bias' \(shape \[10\]\)/,
    );
    await again.source.close();
  });

  it('a config whose label count does not match the classifier fails on the classifier weight', async () => {
    const { source } = await openHfVit(tinyVit);
    const config = vitConfigFromHf({ ...hfJson, id2label: { 0: 'a', 1: 'b' } });
    await expect(VitModel.load(source, config)).rejects.toThrow(
      /weight 'classifier.weight' has shape \[10,32\], expected \[2,32\]/,
    );
    await source.close();
    await expect(openHfVit(join(dir, 'nowhere'))).rejects.toThrow(ModelFormatError);
  });
});
