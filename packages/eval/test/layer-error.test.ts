import { join } from 'node:path';
import { CpuBackend, DenseMatrix, type Tensor } from '@blastkit/core';
import {
  collectLinearInputs,
  Gpt2Model,
  LlamaModel,
  linearInputs,
  loadModel,
  observeLinearInputs,
  openHfGpt2,
  openHfLlama,
  openModel,
} from '@blastkit/models';
import { describe, expect, it } from 'vitest';
import { linearOutputErrors, noisedLatentFeed } from '../src/index.js';
import { expectRelClose, golden, linearView, lowRank, modelFixtures, tensor } from './helpers.js';

// Each architecture: inputs gathered by blastkit (through the adapters' observe hook), blastkit's low-rank
// compression, blastkit's products — against errors PyTorch hooks and NumPy's SVD gave for the same inputs.
const be = new CpuBackend();

type Golden = {
  rank: number;
  modules: Record<string, { rows: number; relativeError: number; meanSquaredError: number }>;
};

function expectGolden(result: Awaited<ReturnType<typeof linearOutputErrors>>, g: Golden) {
  expect(result.layers.map((l) => l.module)).toEqual(Object.keys(g.modules));
  for (const l of result.layers) {
    const want = g.modules[l.module];
    expect(l.rows).toBe(want.rows);
    expect(l.kind).toBe('low-rank');
    expectRelClose(l.relativeError, want.relativeError, 1e-4, `${l.module} relative error`);
    expectRelClose(l.meanSquaredError, want.meanSquaredError, 2e-4, `${l.module} MSE`);
  }
  const errors = result.layers.map((l) => l.relativeError);
  expect(result.maxRelativeError).toBe(Math.max(...errors));
  expect(result.meanRelativeError).toBeCloseTo(errors.reduce((a, b) => a + b) / errors.length, 12);
  expect(result.layers.find((l) => l.module === result.worstModule)?.relativeError).toBe(
    result.maxRelativeError,
  );
}

describe('linearOutputErrors against PyTorch + NumPy', () => {
  it('Llama: inputs through the observe hook (collectLinearInputs)', async () => {
    const g = golden.layers.llama;
    const { config, source } = await openHfLlama(join(modelFixtures, 'tiny-llama'));
    const model = await LlamaModel.load(source, config, { backend: be });
    const modules = Object.keys(g.modules);
    const inputs = await collectLinearInputs(model, g.sequences, modules);
    const candidate = await lowRank(source, modules, g.rank);
    const result = await linearOutputErrors(inputs, (m) => source.readTensor(`${m}.weight`), candidate, {
      inputs: 'golden token sequences',
    });
    expectGolden(result, g);
    expect(result.protocol).toMatchObject({
      inputs: 'golden token sequences',
      activations: 'reference model',
    });
    await source.close();
  });

  it('GPT-2: Conv1D weights seen as linears [out, in]', async () => {
    const g = golden.layers.gpt2;
    const { config, source } = await openHfGpt2(join(modelFixtures, 'tiny-gpt2'));
    const model = await Gpt2Model.load(source, config, { backend: be });
    const modules = Object.keys(g.modules);
    const inputs = await collectLinearInputs(model, g.sequences, modules);
    const view = linearView(source);
    const candidate = await lowRank(view, modules, g.rank);
    expectGolden(await linearOutputErrors(inputs, (m) => view.readTensor(`${m}.weight`), candidate), g);
    await source.close();
  });

  it("ViT: inputs through the adapter's observe hook", async () => {
    const g = golden.layers.vit;
    const opened = await openModel(join(modelFixtures, 'tiny-vit'));
    const modules = Object.keys(g.modules);
    const images = tensor(g.pixelsShape, g.pixels);
    const inputs = await linearInputs(opened, be, modules, {
      kind: 'images',
      images,
      batchSize: images.shape[0],
    });
    const candidate = await lowRank(opened.source, modules, g.rank);
    expectGolden(
      await linearOutputErrors(inputs, (m) => opened.source.readTensor(`${m}.weight`), candidate),
      g,
    );
    await opened.source.close();
  });

  it('DiT: inputs through the observe hook on noised latents', async () => {
    const g = golden.layers.dit;
    const opened = await openModel(join(modelFixtures, 'tiny-dit'));
    const modules = Object.keys(g.modules);
    const shape = [g.labels.length, 4, 8, 8];
    const feed = noisedLatentFeed(
      {
        x0: tensor(shape, g.x0),
        noise: tensor(shape, g.noise),
        timesteps: Int32Array.from(g.timesteps),
        labels: Int32Array.from(g.labels),
      },
      g.labels.length,
    );
    const inputs = await linearInputs(opened, be, modules, feed);
    const candidate = await lowRank(opened.source, modules, g.rank);
    expectGolden(
      await linearOutputErrors(inputs, (m) => opened.source.readTensor(`${m}.weight`), candidate),
      g,
    );
    await opened.source.close();
  });
});

describe('linear inputs through the registry (one observe hook for every adapter)', () => {
  it("collects exactly what the decoders' collectLinearInputs collects", async () => {
    const opened = await openModel(join(modelFixtures, 'tiny-llama'));
    const modules = ['model.layers.0.self_attn.q_proj', 'model.layers.1.mlp.down_proj'];
    const sequences = [
      [1, 5, 17, 42],
      [1, 9, 3],
    ];
    const { config, source } = await openHfLlama(join(modelFixtures, 'tiny-llama'));
    const hooked = await collectLinearInputs(
      await LlamaModel.load(source, config, { backend: be }),
      sequences,
      modules,
    );
    const observed = await linearInputs(opened, be, modules, { kind: 'tokens', sequences });
    for (const m of modules) {
      const a = observed.get(m) as Tensor;
      const b = hooked.get(m) as Tensor;
      expect(a.shape).toEqual(b.shape);
      expect(a.data).toEqual(b.data);
    }
    await source.close();
    await opened.source.close();
  });

  it('sees structured layers too, in batches as one pass, and names a module no pass reached', async () => {
    const opened = await openModel(join(modelFixtures, 'tiny-vit'));
    const q = 'vit.encoder.layer.0.attention.attention.query';
    const k = 'vit.encoder.layer.0.attention.attention.key';
    const images = tensor(
      [3, 3, 16, 16],
      Array.from({ length: 3 * 768 }, (_, i) => Math.sin(i)),
    );
    const whole = await linearInputs(opened, be, [q, k], { kind: 'images', images, batchSize: 3 });
    // a replaced linear still has its input observed (the hook sits before the layer, whatever its kind)
    const model = await loadModel(opened, be, { replacements: await lowRank(opened.source, [k], 4) });
    const batched = await observeLinearInputs(opened.entry, model, [q, k], {
      kind: 'images',
      images,
      batchSize: 2,
    });
    model.dispose();
    for (const m of [q, k]) {
      expect(batched.get(m)?.shape).toEqual([3 * 17, 32]);
      expect(batched.get(m)?.data).toEqual(whole.get(m)?.data);
    }
    await expect(
      linearInputs(opened, be, ['vit.encoder.layer.9.output.dense'], {
        kind: 'images',
        images,
        batchSize: 3,
      }),
    ).rejects.toThrow(/no activations reached 'vit\.encoder\.layer\.9\.output\.dense'/);
    await expect(linearInputs(opened, be, [q], { kind: 'tokens', sequences: [[1, 2]] })).rejects.toThrow(
      /cannot read tokens/,
    );
    await opened.source.close();
  });
});

describe('linearOutputErrors', () => {
  it('is 0 for the dense weight itself, counts a compression bias, and refuses mismatched shapes', async () => {
    const { source } = await openHfLlama(join(modelFixtures, 'tiny-llama'));
    const m = 'model.layers.0.mlp.up_proj';
    const w = await source.readTensor(`${m}.weight`);
    const x = tensor(
      [3, 32],
      Array.from({ length: 96 }, (_, i) => Math.cos(i)),
    );
    const inputs = new Map([[m, x]]);
    const same = await linearOutputErrors(inputs, async () => w, new Map([[m, new DenseMatrix(w)]]));
    expect(same.layers[0]).toMatchObject({ relativeError: 0, meanSquaredError: 0, rows: 3, kind: 'dense' });
    // a bias of ones shifts every output by 1: MSE exactly 1
    const biased = await linearOutputErrors(inputs, async () => w, new Map([[m, new DenseMatrix(w)]]), {
      biases: new Map([[m, tensor([64], new Array(64).fill(1))]]),
    });
    expect(biased.layers[0].meanSquaredError).toBeCloseTo(1, 6);
    await expect(
      linearOutputErrors(
        inputs,
        async () => w,
        new Map([[m, new DenseMatrix(tensor([64, 16], new Array(1024).fill(0)))]]),
      ),
    ).rejects.toThrow(/reference weight is \[64,32\], the compressed one \[64,16\]/);
    await expect(
      linearOutputErrors(new Map(), async () => w, new Map([[m, new DenseMatrix(w)]])),
    ).rejects.toThrow(`no inputs for '${m}'`);
    await expect(linearOutputErrors(inputs, async () => w, new Map())).rejects.toThrow(
      /no compressed linears/,
    );
    await source.close();
  });
});
