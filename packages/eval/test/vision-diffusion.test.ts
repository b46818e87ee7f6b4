import { join } from 'node:path';
import { CpuBackend } from '@blastkit/core';
import { DitModel, ditConfigFromJson, openDitFolder, openHfVit, VitModel } from '@blastkit/models';
import { describe, expect, it } from 'vitest';
import {
  classificationMetrics,
  noisePredictionError,
  sampleAgreement,
  seededImages,
  seededNoiseInputs,
} from '../src/index.js';
import { expectRelClose, golden, lowRank, modelFixtures, tensor } from './helpers.js';

// Blastkit's ViT/DiT adapters, compressed with blastkit's low-rank SVD, against PyTorch's models with NumPy's
// truncated SVD (packages/eval/fixtures/gen_eval_fixtures.py) on the same inputs.
const be = new CpuBackend();

async function vitPair(rank: number, modules: string[]) {
  const { config, source } = await openHfVit(join(modelFixtures, 'tiny-vit'));
  const dense = await VitModel.load(source, config, { backend: be });
  const small = await VitModel.load(source, config, {
    backend: be,
    replacements: await lowRank(source, modules, rank),
  });
  return { dense, small, source };
}

async function ditPair(rank: number, modules: string[]) {
  const { config, source } = await openDitFolder(join(modelFixtures, 'tiny-dit'));
  const dense = await DitModel.load(source, config, { backend: be });
  const small = await DitModel.load(source, config, {
    backend: be,
    replacements: await lowRank(source, modules, rank),
  });
  return { dense, small, source };
}

describe('classificationMetrics (ViT)', () => {
  const g = golden.classification;

  it('top-1/top-5 accuracy and agreement equal PyTorch’s, in batches that do not divide the images', async () => {
    const { dense, small, source } = await vitPair(g.rank, g.modules);
    const images = tensor(g.pixelsShape, g.pixels);
    const r = await classificationMetrics(small, images, {
      labels: g.labels,
      reference: dense,
      batchSize: 5,
    });
    expect(r.protocol).toEqual({
      images: 24,
      source: 'given',
      seed: null,
      labelled: true,
      k: 5,
      batchSize: 5,
    });
    // counts over 24 images: exact
    expect(r.candidate).toEqual({ top1: g.candidate.top1, topK: g.candidate.top5 });
    expect(r.reference).toEqual({ top1: g.reference.top1, topK: g.reference.top5 });
    expect(r.agreement?.top1).toBe(g.agreement.top1);
    expect(r.agreement?.topK).toBe(g.agreement.top5);
    expectRelClose(r.agreement?.klDivergence as number, g.agreement.klDivergence, 1e-4, 'KL');
    await source.close();
  });

  it('without labels only agreement; a model against itself agrees fully; bad input is refused', async () => {
    const { config, source } = await openHfVit(join(modelFixtures, 'tiny-vit'));
    const dense = await VitModel.load(source, config, { backend: be });
    const images = seededImages(config, 6, 3);
    expect(seededImages(config, 6, 3).data).toEqual(images.data);
    expect(seededImages(config, 6, 4).data).not.toEqual(images.data);
    const self = await classificationMetrics(dense, images, {
      reference: dense,
      source: 'seeded N(0, 1) pixels',
      seed: 3,
    });
    expect(self.candidate).toBeNull();
    expect(self.reference).toBeNull();
    expect(self.agreement).toEqual({ top1: 1, topK: 1, klDivergence: 0 });
    expect(self.protocol).toMatchObject({ labelled: false, seed: 3, source: 'seeded N(0, 1) pixels' });
    await expect(classificationMetrics(dense, images)).rejects.toThrow(/nothing to measure/);
    await expect(classificationMetrics(dense, images, { labels: [1, 2] })).rejects.toThrow(
      /2 labels for 6 images/,
    );
    await expect(classificationMetrics(dense, images, { labels: [0, 0, 0, 0, 0, 10] })).rejects.toThrow(
      /label 10 of image 5/,
    );
    await expect(classificationMetrics(dense, tensor([1, 3, 8, 8], new Array(192).fill(0)))).rejects.toThrow(
      /expected \[images, 3, 16, 16\]/,
    );
    await source.close();
  });
});

describe('noisePredictionError (DiT)', () => {
  const g = golden.noisePrediction;

  it('ε error, variance channels, denoising losses and the by-timestep split equal PyTorch’s', async () => {
    const { dense, small, source } = await ditPair(g.rank, g.modules);
    const shape = [g.labels.length, 4, 8, 8];
    const r = await noisePredictionError(
      dense,
      small,
      {
        x0: tensor(shape, g.x0),
        noise: tensor(shape, g.noise),
        timesteps: Int32Array.from(g.timesteps),
        labels: Int32Array.from(g.labels),
      },
      { batchSize: 3 },
    );
    expectRelClose(r.epsilon.relativeError, g.epsilon.relativeError, 1e-4, 'ε relative error');
    expectRelClose(r.epsilon.meanSquaredError, g.epsilon.meanSquaredError, 2e-4, 'ε MSE');
    expectRelClose(r.variance?.relativeError as number, g.variance.relativeError, 1e-4, 'variance');
    expectRelClose(r.denoisingLoss.reference, g.denoisingLoss.reference, 1e-4, 'dense loss');
    expectRelClose(r.denoisingLoss.candidate, g.denoisingLoss.candidate, 1e-4, 'compressed loss');
    expect(r.byTimestep.map((b) => [b.from, b.to, b.samples])).toEqual(
      g.byTimestep.map((b: { from: number; to: number; samples: number }) => [b.from, b.to, b.samples]),
    );
    for (const [i, b] of r.byTimestep.entries())
      expectRelClose(b.relativeError, g.byTimestep[i].relativeError, 1e-4, `bucket ${b.from}`);
    expect(r.protocol).toMatchObject({ samples: 8, schedule: 'linear', diffusionSteps: 1000, batchSize: 3 });
    await source.close();
  });

  it('seeded inputs are deterministic; the dense model against itself has no error', async () => {
    const { config, source } = await openDitFolder(join(modelFixtures, 'tiny-dit'));
    const dense = await DitModel.load(source, config, { backend: be });
    const a = seededNoiseInputs(config, 4, 9);
    const b = seededNoiseInputs(config, 4, 9);
    expect(a.x0.data).toEqual(b.x0.data);
    expect([...a.timesteps]).toEqual([...b.timesteps]);
    expect(seededNoiseInputs(config, 4, 10).noise.data).not.toEqual(a.noise.data);
    expect(a.labels.every((y) => y >= 0 && y < config.numClasses)).toBe(true);
    const self = await noisePredictionError(dense, dense, a, { source: 'seeded', seed: 9 });
    expect(self.epsilon).toEqual({ meanSquaredError: 0, relativeError: 0 });
    expect(self.denoisingLoss.reference).toBe(self.denoisingLoss.candidate);
    expect(self.denoisingLoss.reference).toBeGreaterThan(0);
    await expect(
      noisePredictionError(dense, dense, { ...a, timesteps: Int32Array.of(0, 1, 2, 1000) }),
    ).rejects.toThrow(/timestep 1000 is outside \[0, 1000\)/);
    await source.close();
  });
});

describe('sampleAgreement (DiT)', () => {
  const g = golden.samples;

  it('DDIM samples from the same noise: relative error and PSNR equal PyTorch’s, plain and guided', async () => {
    const { dense, small, source } = await ditPair(g.rank, g.modules);
    const noise = tensor([3, 4, 8, 8], g.noise);
    for (const run of g.runs) {
      const r = await sampleAgreement(dense, small, {
        labels: g.labels,
        noise,
        steps: run.steps,
        ...(run.cfgScale === null ? {} : { cfgScale: run.cfgScale }),
      });
      const what = `cfg ${run.cfgScale}`;
      expectRelClose(r.relativeError, run.relativeError, 1e-4, `${what} relative error`);
      expectRelClose(r.peak, run.peak, 1e-5, `${what} peak`);
      expect(r.psnr as number).toBeCloseTo(run.psnr, 3);
      for (const [i, s] of r.perSample.entries()) {
        expectRelClose(s.relativeError, run.perSample[i].relativeError, 1e-4, `${what} sample ${i}`);
        expect(s.psnr as number).toBeCloseTo(run.perSample[i].psnr, 3);
      }
      expect(r.protocol).toMatchObject({
        sampler: 'ddim',
        noise: 'given',
        cfgScale: run.cfgScale,
        labels: g.labels,
      });
    }
    await source.close();
  });

  it('seeded DDPM: the same seed gives the same record, identical models give PSNR null', async () => {
    const { config, source } = await openDitFolder(join(modelFixtures, 'tiny-dit'));
    expect(ditConfigFromJson({ model_type: 'dit', input_size: 8 }).learnSigma).toBe(true);
    const dense = await DitModel.load(source, config, { backend: be });
    const small = await DitModel.load(source, config, {
      backend: be,
      replacements: await lowRank(source, ['blocks.0.mlp.fc1'], 8),
    });
    const steps: number[] = [];
    const opts = {
      sampler: 'ddpm' as const,
      steps: 4,
      count: 2,
      seed: 5,
      onStep: (d: number) => steps.push(d),
    };
    const a = await sampleAgreement(dense, small, opts);
    const b = await sampleAgreement(dense, small, opts);
    expect(b).toEqual(a);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(a.relativeError).toBeGreaterThan(0);
    expect(a.protocol.labels).toHaveLength(2);
    const self = await sampleAgreement(dense, dense, opts);
    expect(self.psnr).toBeNull();
    expect(self.relativeError).toBe(0);
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(sampleAgreement(dense, small, { ...opts, signal: controller.signal })).rejects.toThrow(
      'stop',
    );
    await source.close();
  });
});
