import { describe, expect, it } from 'vitest';
import { renderReport } from '../src/report/page.js';
import { runCoreCpu } from '../src/suites/core-cpu.js';

describe('core-cpu benchmark suite', () => {
  it('runs in quick mode and reports ratios measured in the same run', () => {
    const result = runCoreCpu({ quick: true });
    expect(result.gemm.length).toBeGreaterThan(0);
    for (const g of result.gemm) expect(g.gflops).toBeGreaterThan(0);
    for (const s of result.structured) {
      expect(s.parameterRatio).toBeCloseTo(
        (s.rank * (s.shape[0] + s.shape[1] + s.blocks ** 2)) / (s.shape[0] * s.shape[1]),
        3,
      );
      expect(s.blastOverDense).toBeGreaterThan(0);
      expect(Number.isFinite(s.blastOverDense)).toBe(true);
    }
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
  });
});

describe('factorize-cpu benchmark suite', () => {
  it('runs in quick mode and compares the two solvers in one run', async () => {
    const { runFactorizeCpu } = await import('../src/suites/factorize-cpu.js');
    const result = await runFactorizeCpu({ quick: true });
    const [r] = result.results;
    expect(r.faithful.relativeError).toBeGreaterThan(0);
    expect(r.fast.relativeError).toBeGreaterThan(0);
    expect(r.curves.faithful.length).toBeGreaterThan(1);
  });
});

describe('models-cpu benchmark suite', () => {
  it('runs stories15M dense, BLAST and low-rank in quick mode, with ratios from the same run', async () => {
    const { runModelsCpu } = await import('../src/suites/models-cpu.js');
    const result = await runModelsCpu({ quick: true });
    expect(result.results.map((r) => r.model)).toEqual(['dense', 'blast-50', 'lowrank-50']);
    const [dense, blast] = result.results;
    expect(blast.linearParameters).toBeLessThanOrEqual(dense.linearParameters * 0.5);
    expect(dense.decodeSpeedupVsDense).toBe(1);
    for (const r of result.results) expect(r.decodeTokensPerSecond).toBeGreaterThan(0);
  }, 300_000);
});

describe('quality-cpu benchmark suite', () => {
  it('compares every structure with the dense model on the same windows, in quick mode', async () => {
    const { runQualityCpu } = await import('../src/suites/quality-cpu.js');
    const result = await runQualityCpu({ quick: true });
    const labels = [
      'blast',
      'blast-data',
      'blast-data (block-diagonal covariance)',
      'lowrank',
      'svd-llm',
      'rom',
      'monarch',
      'monarch-data',
      'block-diag',
    ];
    expect(result.results.map((r) => `${r.method}@${r.reduction}`)).toEqual([
      ...labels.map((l) => `${l}@0.2`),
      ...labels.map((l) => `${l}@0.5`),
      'blast-data (allocated)@0.5',
      'svd-llm (allocated)@0.5',
    ]);
    for (const r of result.results) {
      // every row at the matched budget; every trainable structure also distilled
      expect(r.budget.within1Percent, `${r.method}@${r.reduction} kept ${r.budget.kept}`).toBe(true);
      expect(r.distilled === undefined).toBe(r.method === 'block-diag');
      expect(r.inDomain.klDivergence).toBeGreaterThan(0);
      expect(r.inDomain.top1Agreement).toBeLessThanOrEqual(1);
      expect(r.inDomain.klDivergenceCi[0]).toBeLessThanOrEqual(r.inDomain.klDivergence);
      expect(r.inDomain.klDivergenceCi[1]).toBeGreaterThanOrEqual(r.inDomain.klDivergence);
      expect(r.parameters).toBeLessThan(result.dense.parameters);
    }
  }, 300_000);
});

describe('convergence-cpu benchmark suite', () => {
  it('runs PrecGD and GD at r = r* and 2r* on the same target, in quick mode', async () => {
    const { runConvergenceCpu } = await import('../src/suites/convergence-cpu.js');
    const result = await runConvergenceCpu({ quick: true });
    expect(result.runs.map((r) => `${r.method}@${r.rank}`)).toEqual(['precgd@4', 'gd@4', 'precgd@8', 'gd@8']);
    for (const r of result.runs) expect(r.curve.length).toBeGreaterThan(1);
  });
});

describe('train-step-cpu benchmark suite', () => {
  it('times every student against dense in one run and derives the Amdahl bound from the same run', async () => {
    const { runTrainStepCpu } = await import('../src/suites/train-step-cpu.js');
    const result = await runTrainStepCpu({ quick: true });
    const [m] = result.results;
    expect(m.students.map((s) => s.name)).toEqual([
      'dense',
      'lowrank',
      'monarch-b4',
      'blast-b4',
      'blast-b16',
    ]);
    const dense = m.students[0];
    expect(dense.stepVsDense).toBe(1);
    for (const s of m.students.slice(1)) {
      expect(s.parametersVsDense).toBeLessThanOrEqual(0.5);
      expect(s.parametersVsDense).toBeGreaterThan(0.4);
      expect(s.stepSeconds).toBeGreaterThan(0);
    }
    expect(m.amdahlBound).toBeGreaterThan(0);
    expect(m.amdahlBound).toBeLessThan(1);
    expect(m.denseLinearShare).toBeCloseTo(1 - m.amdahlBound, 2);
    const { markdown } = renderReport([JSON.parse(JSON.stringify(result))]);
    expect(markdown).toMatch(/\| blast-b16 +\|/);
    expect(result.layerSweep.map((x) => x.width)).toEqual([64]);
    expect(result.layerSweep[0].vsDense.dense).toBe(1);
    expect(markdown).toMatch(/\| 64² +\|/);
  }, 120_000);
});
