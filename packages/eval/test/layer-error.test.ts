import { join } from 'node:path';
import { CpuBackend, DenseMatrix, type Tensor } from '@blastkit/core';
import {
  collectLinearInputs,
  DitModel,
  Gpt2Model,
  LlamaModel,
  openDitFolder,
  openHfGpt2,
  openHfLlama,
  openHfVit,
  VitModel,
} from '@blastkit/models';
import { describe, expect, it } from 'vitest';
import { LinearInputRecorder, linearOutputErrors, noisedLatents } from '../src/index.js';
import { expectRelClose, golden, linearView, lowRank, modelFixtures, tensor } from './helpers.js';

// Each architecture: inputs gathered by blastkit (observe hooks or the recorder), blastkit's low-rank
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

  it('ViT: inputs through the LinearInputRecorder', async () => {
    const g = golden.layers.vit;
    const { config, source } = await openHfVit(join(modelFixtures, 'tiny-vit'));
    const modules = Object.keys(g.modules);
    const recorder = new LinearInputRecorder(be, modules);
    const model = await VitModel.load(recorder.source(source), config, { backend: recorder.backend });
    be.dispose(model.forward(tensor(g.pixelsShape, g.pixels)));
    const inputs = await recorder.inputs();
    const candidate = await lowRank(source, modules, g.rank);
    expectGolden(await linearOutputErrors(inputs, (m) => source.readTensor(`${m}.weight`), candidate), g);
    await source.close();
  });

  it('DiT: inputs through the recorder on noised latents', async () => {
    const g = golden.layers.dit;
    const { config, source } = await openDitFolder(join(modelFixtures, 'tiny-dit'));
    const modules = Object.keys(g.modules);
    const recorder = new LinearInputRecorder(be, modules);
    const model = await DitModel.load(recorder.source(source), config, { backend: recorder.backend });
    const shape = [g.labels.length, 4, 8, 8];
    const xt = noisedLatents({
      x0: tensor(shape, g.x0),
      noise: tensor(shape, g.noise),
      timesteps: Int32Array.from(g.timesteps),
    });
    await model.forward(xt, Float32Array.from(g.timesteps), Int32Array.from(g.labels));
    const inputs = await recorder.inputs();
    const candidate = await lowRank(source, modules, g.rank);
    expectGolden(await linearOutputErrors(inputs, (m) => source.readTensor(`${m}.weight`), candidate), g);
    await source.close();
  });
});

describe('LinearInputRecorder', () => {
  it('collects exactly what the Llama observe hook collects', async () => {
    const { config, source } = await openHfLlama(join(modelFixtures, 'tiny-llama'));
    const modules = ['model.layers.0.self_attn.q_proj', 'model.layers.1.mlp.down_proj'];
    const sequences = [
      [1, 5, 17, 42],
      [1, 9, 3],
    ];
    const hooked = await collectLinearInputs(
      await LlamaModel.load(source, config, { backend: be }),
      sequences,
      modules,
    );
    const recorder = new LinearInputRecorder(be, modules);
    const model = await LlamaModel.load(recorder.source(source), config, { backend: recorder.backend });
    for (const ids of sequences) be.dispose(model.forward(Int32Array.from(ids), model.newCache()));
    const recorded = await recorder.inputs();
    for (const m of modules) {
      const a = recorded.get(m) as Tensor;
      const b = hooked.get(m) as Tensor;
      expect(a.shape).toEqual(b.shape);
      expect(a.data).toEqual(b.data);
    }
    await source.close();
  });

  it('names the modules it never saw: replaced by a structure, or rewritten on load (GPT-2)', async () => {
    const vit = await openHfVit(join(modelFixtures, 'tiny-vit'));
    const q = 'vit.encoder.layer.0.attention.attention.query';
    const k = 'vit.encoder.layer.0.attention.attention.key';
    const recorder = new LinearInputRecorder(be, [q, k]);
    // a structure runs through its own forward, never through a watched weight handle
    const model = await VitModel.load(recorder.source(vit.source), vit.config, {
      backend: recorder.backend,
      replacements: await lowRank(vit.source, [k], 4),
    });
    be.dispose(
      model.forward(
        tensor(
          [1, 3, 16, 16],
          Array.from({ length: 768 }, (_, i) => Math.sin(i)),
        ),
      ),
    );
    await expect(recorder.inputs()).rejects.toThrow(`no inputs reached '${k}'`);
    await vit.source.close();

    const gpt = await openHfGpt2(join(modelFixtures, 'tiny-gpt2'));
    const c = 'transformer.h.0.mlp.c_fc';
    const r2 = new LinearInputRecorder(be, [c]);
    const g2 = await Gpt2Model.load(r2.source(gpt.source), gpt.config, { backend: r2.backend });
    be.dispose(g2.forward(Int32Array.of(1, 2, 3), g2.newCache()));
    await expect(r2.inputs()).rejects.toThrow(/no inputs reached 'transformer\.h\.0\.mlp\.c_fc'/);
    await gpt.source.close();
    expect(() => new LinearInputRecorder(be, [])).toThrow(/no modules/);
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
