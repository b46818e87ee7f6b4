import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuBackend, DenseMatrix, type StructuredMatrix, Tensor } from '@blastkit/core';
import { maxRelativeError } from '@blastkit/core/test';
import { lowRankFactorize } from '@blastkit/factorize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DIT_LINEAR_MODULES,
  type DitConfig,
  ditBlockLinearNames,
  ditConfigFromJson,
  ditConfigToJson,
  ditWeightShapes,
} from '../src/dit/config.js';
import { DitModel, openDitFolder, timestepEmbedding } from '../src/dit/model.js';
import {
  ddimSample,
  ddimSchedule,
  ddpmSample,
  linearBetaSchedule,
  spaceTimesteps,
} from '../src/dit/sampler.js';
import type { TensorSource } from '../src/tensor-source.js';

/** Largest relative error against the golden logits: the README's "~3e-6": measured 1.9e-6 to 2.8e-6 on the CPU backend. */
const TOLERANCE = 3e-6;

interface Golden {
  forward: { x: number[]; t: number[]; y: number[]; out: number[] };
  cfg: { x: number[]; t: number[]; y: number[]; scale: number; out: number[] };
  ddim: {
    noise: number[];
    labels: number[];
    runs: { steps: number; cfgScale: number | null; clipDenoised: boolean; sample: number[] }[];
  };
  ddpm: {
    noise: number[];
    labels: number[];
    stepNoises: number[][];
    runs: { steps: number; cfgScale: number | null; sample: number[] }[];
  };
  space_timesteps: { num_timesteps: number; count: number; steps: number[] }[];
}

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const folder = join(fixtures, 'tiny-dit');
const golden = JSON.parse(readFileSync(join(fixtures, 'dit-golden.json'), 'utf8')) as Golden;
const be = new CpuBackend();
const image = (data: number[]) => new Tensor([data.length / 256, 4, 8, 8], Float32Array.from(data));

const relativeMaxError = maxRelativeError;

/** A source that hides, renames or reshapes tensors of another one. */
function edited(
  source: TensorSource,
  edit: { drop?: string; rename?: [string, string]; shape?: [string, number[]] },
): TensorSource {
  const [from, to] = edit.rename ?? ['', ''];
  return {
    names: () =>
      source
        .names()
        .filter((n) => n !== edit.drop)
        .map((n) => (n === from ? to : n)),
    shapeOf: (n) => (edit.shape?.[0] === n ? edit.shape[1] : source.shapeOf(n === to ? from : n)),
    readTensor: (n) => source.readTensor(n === to ? from : n),
    close: () => source.close(),
  };
}

let config: DitConfig;
let source: TensorSource;
let model: DitModel;
const f = golden.forward;

beforeAll(async () => {
  ({ config, source } = await openDitFolder(folder));
  model = await DitModel.load(source, config, { backend: be, file: 'tiny-dit' });
});
afterAll(async () => {
  model.dispose();
  await source.close();
});

describe('DiT adapter against facebookresearch/DiT models.py', () => {
  it('reads the config and checks every state-dict tensor', () => {
    expect(config).toMatchObject({
      inputSize: 8,
      patchSize: 2,
      inChannels: 4,
      hiddenSize: 32,
      depth: 2,
      numHeads: 4,
      mlpRatio: 2,
      classDropoutProb: 0.1,
      numClasses: 10,
      learnSigma: true,
      outChannels: 8,
    });
    const shapes = ditWeightShapes(config);
    expect([...shapes.keys()].sort()).toEqual(source.names().sort());
    expect(shapes.get('x_embedder.proj.weight')).toEqual([32, 4, 2, 2]);
    expect(shapes.get('y_embedder.embedding_table.weight')).toEqual([11, 32]);
    expect(shapes.get('final_layer.linear.weight')).toEqual([32, 32]);
    expect(ditBlockLinearNames(config)).toHaveLength(2 * DIT_LINEAR_MODULES.length);
    expect(ditConfigFromJson(ditConfigToJson(config))).toEqual(config);
  });

  it('forward matches PyTorch DiT to 3e-6 (adaLN and final layer random, one null-class label)', async () => {
    const out = await model.forward(image(f.x), Float32Array.from(f.t), Int32Array.from(f.y));
    expect(out.shape).toEqual([2, 8, 8, 8]);
    const err = relativeMaxError(out, f.out);
    expect(err).toBeLessThan(TOLERANCE);
  });

  it('forwardWithCfg matches forward_with_cfg (3 guided channels) and reads only the first half of x', async () => {
    const c = golden.cfg;
    const x = image(c.x);
    const out = await model.forwardWithCfg(x, Float32Array.from(c.t), Int32Array.from(c.y), c.scale);
    expect(relativeMaxError(out, c.out)).toBeLessThan(TOLERANCE);
    x.data.fill(7, 256);
    const again = await model.forwardWithCfg(x, Float32Array.from(c.t), Int32Array.from(c.y), c.scale);
    expect(again.data).toEqual(out.data);
    // guiding every channel changes channel 3 (the 4th ε channel) only
    const all = await model.forwardWithCfg(x, Float32Array.from(c.t), Int32Array.from(c.y), c.scale, {
      channels: 8,
    });
    expect(all.data.subarray(0, 3 * 64)).toEqual(out.data.subarray(0, 3 * 64));
    expect(all.data.subarray(3 * 64, 4 * 64)).not.toEqual(out.data.subarray(3 * 64, 4 * 64));
  });

  it('the timestep features are cos then sin of t·10000^(−i/128)', () => {
    const e = timestepEmbedding(Float32Array.from([0, 3]));
    expect(e.shape).toEqual([2, 256]);
    expect(e.data[0]).toBe(1);
    expect(e.data[128]).toBe(0);
    expect(e.data[256 + 1]).toBeCloseTo(Math.cos(3 * 10000 ** (-1 / 128)), 6);
    expect(e.data[256 + 128 + 1]).toBeCloseTo(Math.sin(3 * 10000 ** (-1 / 128)), 6);
  });
});

describe('DDIM sampler against DiT diffusion/', () => {
  it('space_timesteps and the linear β schedule are the repo’s (Python rounding included)', () => {
    for (const c of golden.space_timesteps) expect(spaceTimesteps(c.num_timesteps, c.count)).toEqual(c.steps);
    const b = linearBetaSchedule(1000);
    expect(b[0]).toBe(0.0001);
    expect(b[999]).toBe(0.02);
    expect(b[500]).toBeCloseTo(0.0001 + (500 * (0.02 - 0.0001)) / 999, 15);
    const s = ddimSchedule(5);
    expect(s.timesteps).toEqual([0, 250, 500, 749, 999]);
    // respacing keeps ᾱ at the kept timesteps
    let ab = 1;
    for (let i = 0; i <= 749; i++) ab *= 1 - b[i];
    expect(s.alphasCumprod[3]).toBeCloseTo(ab, 12);
    expect(() => spaceTimesteps(10, 11)).toThrow(/cannot take 11 steps from a diffusion of 10 steps/);
  });

  for (const [i, run] of golden.ddim.runs.entries()) {
    it(`5-step DDIM from given noise matches the repo to 1e-3 (run ${i}: cfg ${run.cfgScale}, clip ${run.clipDenoised})`, async () => {
      const seen: number[] = [];
      const sample = await ddimSample(model, {
        labels: golden.ddim.labels,
        noise: image(golden.ddim.noise),
        steps: run.steps,
        cfgScale: run.cfgScale ?? undefined,
        clipDenoised: run.clipDenoised,
        onStep: (_, t) => seen.push(t),
      });
      expect(seen).toEqual([999, 749, 500, 250, 0]);
      expect(relativeMaxError(sample, run.sample)).toBeLessThan(1e-3);
    });
  }

  for (const [i, run] of golden.ddpm.runs.entries()) {
    it(`5-step ancestral DDPM (learned variance) with given noises matches the Python sampler (run ${i}: cfg ${run.cfgScale})`, async () => {
      const sample = await ddpmSample(model, {
        labels: golden.ddpm.labels,
        noise: image(golden.ddpm.noise),
        steps: run.steps,
        cfgScale: run.cfgScale ?? undefined,
        stepNoise: (k) => image(golden.ddpm.stepNoises[k]),
      });
      expect(relativeMaxError(sample, run.sample)).toBeLessThan(1e-3);
      // the variance channels matter here (unlike DDIM): a different step noise moves the sample
      const other = await ddpmSample(model, {
        labels: golden.ddpm.labels,
        noise: image(golden.ddpm.noise),
        steps: run.steps,
        cfgScale: run.cfgScale ?? undefined,
        seed: 5,
      });
      expect(relativeMaxError(other, run.sample)).toBeGreaterThan(1e-3);
    });
  }

  it('seeded noise repeats for a seed and differs between seeds', async () => {
    const run = (seed: number) => ddimSample(model, { labels: [1, 2], steps: 2, seed });
    const a = await run(3);
    expect(a.shape).toEqual([2, 4, 8, 8]);
    expect((await run(3)).data).toEqual(a.data);
    expect((await run(4)).data).not.toEqual(a.data);
  });
});

describe('DiT with structured linears', () => {
  it('a full-rank low-rank blocks.1.mlp.fc1 reproduces the outputs; rank 4 changes them', async () => {
    const name = 'blocks.1.mlp.fc1';
    const W = await source.readTensor(`${name}.weight`);
    expect(W.shape).toEqual([64, 32]);
    const run = async (m: StructuredMatrix) => {
      const dit = await DitModel.load(source, config, { backend: be, replacements: new Map([[name, m]]) });
      const out = await dit.forward(image(f.x), Float32Array.from(f.t), Int32Array.from(f.y));
      const params = dit.linearParameterCount();
      dit.dispose();
      return { out, params };
    };
    const exact = await run(await lowRankFactorize(W, 32));
    expect(relativeMaxError(exact.out, f.out)).toBeLessThan(TOLERANCE);
    const cut = await run(await lowRankFactorize(W, 4));
    expect(relativeMaxError(cut.out, f.out)).toBeGreaterThan(1e-3);
    expect(exact.params - cut.params).toBe((32 - 4) * (64 + 32));
    expect(exact.params - model.linearParameterCount()).toBe(32 * (64 + 32) - 64 * 32);
  });

  it('the patch embedding replaced by its [H, C·p·p] matrix gives the same outputs', async () => {
    const kernel = await source.readTensor('x_embedder.proj.weight');
    const dit = await DitModel.load(source, config, {
      replacements: new Map([['x_embedder.proj', new DenseMatrix(kernel.reshape([32, 16]))]]),
    });
    const out = await dit.forward(image(f.x), Float32Array.from(f.t), Int32Array.from(f.y));
    expect(relativeMaxError(out, f.out)).toBeLessThan(TOLERANCE);
  });
});

describe('bad DiT configs, files and inputs', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'blastkit-dit-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const json = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8'));

  it('configs that cannot make a DiT name the key and the file', () => {
    const bad = (patch: Record<string, unknown>) => () =>
      ditConfigFromJson({ ...json, ...patch }, 'cfg.json');
    expect(bad({ hidden_size: -1 })).toThrow(/cfg.json: 'hidden_size' must be a positive integer \(got -1\)/);
    expect(bad({ num_heads: 5 })).toThrow(/hidden_size 32 is not a multiple of num_heads 5/);
    expect(bad({ input_size: 9 })).toThrow(/input_size 9 is not a multiple of patch_size 2/);
    expect(bad({ model_type: 'llama' })).toThrow(/model_type is 'llama', expected 'dit'/);
    expect(bad({ learn_sigma: 'yes' })).toThrow(/'learn_sigma' must be true or false/);
    expect(bad({ class_dropout_prob: 2 })).toThrow(/'class_dropout_prob' must be a number in \[0, 1\]/);
    expect(bad({ mlp_ratio: 0.01 })).toThrow(/the MLP is empty/);
    expect(bad({ model: 'DiT-XL/2' })).toThrow(/'depth' is 2 but model 'DiT-XL\/2' has 28/);
    expect(bad({ model: 'DiT-XXL/2' })).toThrow(/model 'DiT-XXL\/2' is not one of DiT-XL\/2/);
  });

  it('a preset name gives the repo’s DiT-XL/2 (675,129,632 parameters at 256×256)', () => {
    const xl = ditConfigFromJson({ model: 'DiT-XL/2', input_size: 32 });
    expect(xl).toMatchObject({ depth: 28, hiddenSize: 1152, patchSize: 2, numHeads: 16, numClasses: 1000 });
    const shapes = ditWeightShapes(xl);
    expect(shapes.size).toBe(292);
    let n = 0;
    for (const s of shapes.values()) n += s.reduce((a, b) => a * b, 1);
    expect(n).toBe(675_129_632);
  });

  it('weights that do not fit the config are refused by name and shape', async () => {
    await expect(
      DitModel.load(source, { ...config, numClasses: 11 }, { file: 'w.safetensors' }),
    ).rejects.toThrow(
      /w.safetensors: weight 'y_embedder.embedding_table.weight' has shape \[11,32\], expected \[12,32\]/,
    );
    await expect(DitModel.load(source, { ...config, depth: 1 })).rejects.toThrow(
      /unexpected tensor 'blocks\.1\.[\w.]+' \(and 9 more\): not part of a DiT with depth 1/,
    );
    await expect(DitModel.load(edited(source, { drop: 'pos_embed' }), config)).rejects.toThrow(
      /missing weight 'pos_embed' \(shape \[1,16,32\]\)/,
    );
    await expect(
      DitModel.load(edited(source, { shape: ['x_embedder.proj.weight', [32, 4, 4, 1]] }), config),
    ).rejects.toThrow(/weight 'x_embedder.proj.weight' has shape \[32,4,4,1\], expected \[32,4,2,2\]/);
    await expect(
      DitModel.load(edited(source, { rename: ['pos_embed', 'module.pos_embed'] }), config),
    ).rejects.toThrow(/unexpected tensor 'module.pos_embed'/);
    const W = await source.readTensor('blocks.0.mlp.fc2.weight');
    await expect(
      DitModel.load(source, config, { replacements: new Map([['blocks.0.mlp.fc1', new DenseMatrix(W)]]) }),
    ).rejects.toThrow(/replacement for 'blocks.0.mlp.fc1' has shape \[32,64\], expected \[64,32\]/);
    await expect(
      DitModel.load(source, config, { replacements: new Map([['blocks.0.mlp', new DenseMatrix(W)]]) }),
    ).rejects.toThrow(/no linear 'blocks.0.mlp' to replace/);
    await expect(openDitFolder(dir)).rejects.toThrow(/config.json: cannot read: ENOENT/);
  });

  it('inputs of the wrong shape or out-of-range labels say what was expected', async () => {
    const x = image(f.x);
    const t = Float32Array.from(f.t);
    const y = Int32Array.from(f.y);
    await expect(model.forward(new Tensor([2, 3, 8, 8]), t, y)).rejects.toThrow(
      /DiT forward: x has shape \[2,3,8,8\], expected \[\*,4,8,8\]/,
    );
    await expect(model.forward(x, t.subarray(0, 1), y)).rejects.toThrow(/1 timesteps for 2 images/);
    await expect(model.forward(x, t, Int32Array.from([3, 11]))).rejects.toThrow(
      /class label 11 \(image 1\) is outside \[0, 11\) \(10 is the null class\)/,
    );
    await expect(model.forwardWithCfg(image(f.x.slice(0, 256)), t, y, 4)).rejects.toThrow(
      /expected an even batch/,
    );
    await expect(ddimSample(model, { labels: [1], noise: x })).rejects.toThrow(
      /noise has shape \[2,4,8,8\], expected \[1,4,8,8\]/,
    );
    const noNull = { config: { ...config, classDropoutProb: 0 } } as unknown as DitModel;
    await expect(ddimSample(noNull, { labels: [1], cfgScale: 4 })).rejects.toThrow(
      /cfgScale needs the null class, but class_dropout_prob is 0/,
    );
  });
});
