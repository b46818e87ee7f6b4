import { join } from 'node:path';
import { CpuBackend, LowRankMatrix, Rng, Tensor } from '@blastkit/core';
import {
  compressModel,
  linearInputs,
  linearWeights,
  loadModel,
  openModel,
  selectLinears,
} from '@blastkit/models';
import { describe, expect, it } from 'vitest';
import {
  type CausalLm,
  compressToBudget,
  planBySensitivity,
  type SensitivityProbe,
  seededCalibration,
  truncationTail,
} from '../src/index.js';
import { modelFixtures } from './helpers.js';

const be = new CpuBackend();

describe('truncationTail: the error of a rank-r truncation, from an eigendecomposition', () => {
  const rng = new Rng(3);
  const W = new Tensor([6, 9]);
  rng.fillNormal(W.data, 1);
  const X = new Tensor([20, 9]);
  rng.fillNormal(X.data, 1);
  const frob = (t: Tensor) => t.data.reduce((s, v) => s + v * v, 0);

  it('tail(0) is ‖W‖²_F without inputs and ‖W·Xᵀ‖²_F with them; it falls to 0 at full rank', async () => {
    const plain = await truncationTail(be, W);
    expect(plain[0]).toBeCloseTo(frob(W), 3);
    expect(plain[6]).toBe(0);
    const WX = be.matmul(be.upload(W), be.upload(X), { transposeB: true });
    const whitened = await truncationTail(be, W, X);
    expect(whitened[0]).toBeCloseTo(frob(await be.download(WX)), 2);
    for (let r = 1; r <= 6; r++) expect(whitened[r]).toBeLessThanOrEqual(whitened[r - 1]);
  });
});

describe('compressToBudget: a model-level budget met exactly, allocated by measured output sensitivity', async () => {
  const opened = await openModel(join(modelFixtures, 'tiny-llama'));
  const modules = selectLinears(opened, {});
  const dense = (await loadModel(opened, be)) as unknown as CausalLm & { dispose(): void };
  const { feed } = seededCalibration(opened, 96, 1);
  const sequences = feed.kind === 'tokens' ? feed.sequences.map((s) => s.slice(1)) : [];
  const probe: SensitivityProbe = {
    reference: dense,
    load: async (replacements, biases) =>
      (await loadModel(opened, be, { replacements, biases })) as unknown as CausalLm & { dispose(): void },
    sequences,
    protocol: { window: 64, stride: 63, prefixToken: 1 },
  };
  const denseParameters = modules.reduce((s, m) => {
    const [a, b] = opened.source.shapeOf(`${m}.weight`);
    return s + a * b;
  }, 0);

  it('sensitivity allocation: within 1% of the budget, every module at its planned rank, KL measured for each', async () => {
    const calibration = await linearInputs(opened, be, modules, feed);
    const r = await compressToBudget(linearWeights(opened), modules, {
      method: 'svd-llm',
      ratio: 0.5,
      allocation: 'sensitivity',
      compress: { backend: be, calibration },
      probe,
    });
    expect(Math.abs(r.plan.ratio - 0.5)).toBeLessThanOrEqual(0.005);
    expect(r.sensitivity?.size).toBe(modules.length);
    for (const kl of r.sensitivity?.values() ?? []) expect(kl).toBeGreaterThan(0);
    let kept = 0;
    for (const a of r.plan.modules) {
      const m = r.replacements.get(a.name);
      if (a.setting.value === null) expect(m).toBeUndefined();
      else expect(m instanceof LowRankMatrix && m.U.shape[1]).toBe(a.setting.value);
      kept += m ? m.parameterCount : a.denseParameters;
    }
    expect(kept / denseParameters).toBeCloseTo(r.plan.ratio, 6);
    // the ranks differ between modules: the allocation moved budget to where the KL is
    expect(new Set(r.plan.modules.map((a) => a.setting.value)).size).toBeGreaterThan(1);
  }, 60_000);

  it('matched: a structure whose nearest setting meets the budget measures nothing; coarse ones move modules', async () => {
    // 0.375 is a whole rank on every module here (6 of 32×32, 4 of 16×32, 8 of 64×32)
    const plain = await compressToBudget(linearWeights(opened), modules, {
      method: 'lowrank',
      ratio: 0.375,
      allocation: 'matched',
      compress: { backend: be },
      probe,
    });
    expect(plain.sensitivity).toBeUndefined();
    expect(plain.plan.how).toMatch(/^every module at the nearest setting/);
    const coarse = await compressToBudget(linearWeights(opened), modules, {
      method: 'block-diag',
      ratio: 0.4,
      allocation: 'matched',
      compress: { backend: be },
      probe,
    });
    expect(Math.abs(coarse.plan.ratio - 0.4)).toBeLessThanOrEqual(0.004);
    expect(coarse.sensitivity?.size).toBe(modules.length);
    await expect(
      compressToBudget(linearWeights(opened), modules, {
        method: 'block-diag',
        ratio: 0.5,
        allocation: 'sensitivity',
        compress: { backend: be },
        probe,
      }),
    ).rejects.toThrow(/needs a rank per module/);
  }, 60_000);
});

describe('planBySensitivity: ranks for compress, from any registered decoder', () => {
  it('gives a budget within 1% and refuses a classifier', async () => {
    const opened = await openModel(join(modelFixtures, 'tiny-gpt2'));
    const { feed } = seededCalibration(opened, 128, 2);
    const r = await planBySensitivity(opened, { method: 'lowrank', ratio: 0.5, backend: be, feed });
    expect(Math.abs(r.plan.ratio - 0.5)).toBeLessThanOrEqual(0.005);
    expect(r.probe.sequences).toBeGreaterThan(0);
    expect([...r.ranks.keys()].every((m) => r.sensitivity.has(m))).toBe(true);
    // the README's example: compress at those ranks
    const done = await compressModel(opened, {
      method: 'lowrank',
      ratio: 0.5,
      ranks: r.ranks,
      calibration: feed,
      backend: be,
    });
    for (const [m, rank] of r.ranks)
      expect((done.replacements.get(m) as LowRankMatrix).U.shape[1]).toBe(rank);
    await opened.source.close();
    const vit = await openModel(join(modelFixtures, 'tiny-vit'));
    await expect(
      planBySensitivity(vit, { method: 'lowrank', ratio: 0.5, backend: be, feed }),
    ).rejects.toThrow(/decoders only/);
    await vit.source.close();
  }, 60_000);
});
