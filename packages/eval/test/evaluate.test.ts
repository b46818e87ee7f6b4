import { join } from 'node:path';
import { CpuBackend } from '@blastkit/core';
import { compressModel, linearCandidates, openModel } from '@blastkit/models';
import { describe, expect, it } from 'vitest';
import { calibrationSequences, evalBudget, evaluate, seededCalibration, seededImages } from '../src/index.js';
import { modelFixtures } from './helpers.js';

const be = new CpuBackend();
const context = {
  model: 'tiny-vit, low-rank',
  reference: 'tiny-vit',
  method: 'lowrank',
  budget: null,
  backend: 'cpu',
};

describe('evaluate(task, …)', () => {
  it('image classification: agreement with the reference, then each compressed linear on its inputs', async () => {
    const dense = await openModel(join(modelFixtures, 'tiny-vit'));
    const modules = linearCandidates(dense).filter((m) => m.startsWith('vit.encoder.layer.0.'));
    const { replacements } = await compressModel(dense, {
      method: 'lowrank',
      ratio: 0.5,
      backend: be,
      selection: {
        targetModules: modules.map((m) => m.split('.').slice(-2).join('.')),
        layersToTransform: [0],
      },
    });
    const candidate = { ...dense, replacements };
    const budget = evalBudget(candidate, 0.5);
    expect(budget.parameters).toBeLessThan(budget.denseParameters as number);
    const r = await evaluate(
      'image-classification',
      candidate,
      dense,
      { samples: 4, layerImages: 2 },
      { backend: be, context: { ...context, budget }, seed: 3 },
    );
    expect(r.records.map((x) => x.metric)).toEqual(['classification', 'layer-output-error']);
    const agreement = (r.records[0].result as { agreement: { top1: number; klDivergence: number } })
      .agreement;
    expect(agreement.klDivergence).toBeGreaterThan(0);
    expect(r.layers?.layers.map((l) => l.module).sort()).toEqual([...replacements.keys()].sort());
    for (const l of r.layers?.layers ?? []) expect(l.rows).toBe(2 * 17);
    // the model against itself: nothing compressed, no layer errors, identical predictions
    const self = await evaluate(
      'image-classification',
      dense,
      dense,
      { samples: 4 },
      { backend: be, context },
    );
    expect(self.layers).toBeUndefined();
    expect((self.records[0].result as { agreement: { top1: number } }).agreement.top1).toBe(1);
    // labelled images alone: accuracy, no reference needed
    const pixels = seededImages(dense.config as { numChannels: number; imageSize: number }, 2, 1);
    const labelled = await evaluate(
      'image-classification',
      dense,
      undefined,
      { images: { pixels, labels: Int32Array.of(0, 1), source: 'two images' } },
      { backend: be, context: { ...context, reference: null } },
    );
    expect(labelled.records[0].result).toMatchObject({ candidate: { top1: expect.any(Number) } });
    await expect(evaluate('diffusion', dense, dense, {}, { backend: be, context })).rejects.toThrow(
      /is a image-classification model, not diffusion/,
    );
    await expect(
      evaluate('image-classification', dense, undefined, {}, { backend: be, context }),
    ).rejects.toThrow(/needs labelled images, or a reference/);
    await dense.source.close();
  });
});

describe('calibration inputs', () => {
  it('decoder sequences start with BOS where prompts do (Llama) and not otherwise (GPT-2)', async () => {
    const llama = await openModel(join(modelFixtures, 'tiny-llama'));
    const gpt2 = await openModel(join(modelFixtures, 'tiny-gpt2'));
    const ids = Array.from({ length: 70 }, (_, i) => i % 60);
    // tiny contexts of 64 tokens: each Llama sequence is BOS + up to 63 tokens, GPT-2's up to 64 tokens
    const cut = calibrationSequences(llama, ids);
    expect(cut.map((s) => [s[0], s.length])).toEqual([
      [1, 64],
      [1, 8],
    ]);
    expect(cut[1].slice(1)).toEqual(ids.slice(63));
    expect(calibrationSequences(gpt2, ids).map((s) => s.length)).toEqual([64, 6]);
    const random = seededCalibration(gpt2, 100, 5);
    expect(random.source).toBe('random: 100 token ids uniform over the vocabulary, Rng(5)');
    expect(random.feed).toMatchObject({ kind: 'tokens' });
    await llama.source.close();
    await gpt2.source.close();
  });
});
