import { join } from 'node:path';
import { CpuBackend } from '@blastkit/core';
import { DitModel, openDitFolder } from '@blastkit/models';
import { describe, expect, it } from 'vitest';
import { evalRecord, noisePredictionError, psnr, seededNoiseInputs, topK } from '../src/index.js';
import { lowRank, modelFixtures } from './helpers.js';

describe('evalRecord', () => {
  const context = {
    model: 'tiny-dit (compressed: lowrank)',
    reference: 'tiny-dit',
    method: 'lowrank',
    budget: { ratio: 0.5, parameters: 10, denseParameters: 20 },
    backend: 'cpu',
  };

  it('carries model, method, budget, backend and protocol, and survives JSON unchanged', async () => {
    const { config, source } = await openDitFolder(join(modelFixtures, 'tiny-dit'));
    const be = new CpuBackend();
    const dense = await DitModel.load(source, config, { backend: be });
    const small = await DitModel.load(source, config, {
      backend: be,
      replacements: await lowRank(source, ['blocks.1.mlp.fc2'], 8),
    });
    const result = await noisePredictionError(dense, small, seededNoiseInputs(config, 3, 1), {
      source: 'seeded',
      seed: 1,
    });
    const record = evalRecord('noise-prediction', context, result);
    expect(record).toMatchObject({
      metric: 'noise-prediction',
      model: context.model,
      reference: 'tiny-dit',
      method: 'lowrank',
      budget: context.budget,
      backend: 'cpu',
      protocol: { samples: 3, seed: 1, source: 'seeded' },
    });
    expect(record.result).not.toHaveProperty('protocol');
    expect(record.result.epsilon.relativeError).toBeGreaterThan(0);
    expect(JSON.parse(JSON.stringify(record))).toEqual(record);
    await source.close();
  });

  it('refuses numbers JSON cannot hold and a record without model or backend', () => {
    expect(() => evalRecord('perplexity', context, { protocol: {}, perplexity: Number.NaN })).toThrow(
      /record\.result\.perplexity is not a finite number/,
    );
    expect(() =>
      evalRecord('classification', { ...context, backend: '' }, { protocol: {}, x: [1, Infinity] }),
    ).toThrow(/context\.backend/);
    expect(() => evalRecord('nope' as never, context, { protocol: {} })).toThrow(/unknown metric/);
    expect(
      evalRecord('comparison', { ...context, reference: undefined }, { protocol: { w: 1 } }).reference,
    ).toBeNull();
  });
});

describe('helpers', () => {
  it('topK: largest first, lower index first on ties', () => {
    expect(topK([1, 5, 3, 5, 0], 0, 5, 3)).toEqual([1, 3, 2]);
    expect(topK([9, 1, 5, 3, 5, 0], 1, 5, 2)).toEqual([1, 3]);
    expect(topK([2, 2, 2], 0, 3, 5)).toEqual([0, 1, 2]);
  });
  it('psnr: 10·log10(peak²/mse), null for identical', () => {
    expect(psnr(2, 0.04)).toBeCloseTo(20, 12);
    expect(psnr(1, 0)).toBeNull();
  });
});
