import { cpuKernels, Rng, Tensor } from '@blastkit/core';
import { findFactorizer, monarchDataAware, monarchFactorize } from '@blastkit/factorize';
import { describe, expect, it } from 'vitest';
import {
  allocateBudget,
  type BudgetModule,
  budgetSettings,
  compressAtSettings,
  matchBudget,
  nearestSetting,
  type TensorSource,
} from '../src/index.js';

// two blocks of a small transformer: enough modules that subsets can land within 1%
const SHAPES: [string, number, number][] = [
  ['q', 32, 32],
  ['k', 32, 32],
  ['up', 64, 32],
  ['down', 32, 64],
  ['q1', 32, 32],
  ['k1', 32, 32],
  ['up1', 64, 32],
  ['down1', 32, 64],
];

const modulesOf = (
  method: Parameters<typeof budgetSettings>[0],
  blocks = 4,
  cost?: (name: string) => number,
) =>
  SHAPES.map(([name, m, n]) => ({
    name,
    settings: budgetSettings(method, m, n, blocks),
    ...(cost ? { cost: () => cost(name) } : {}),
  }));

const denseOf = () => SHAPES.reduce((s, [, m, n]) => s + m * n, 0);

describe('budgetSettings', () => {
  it('lists settings by parameters, smaller than dense, ending with dense', () => {
    const s = budgetSettings('block-diag', 32, 64);
    expect(s.map((x) => x.value)).toEqual([32, 16, 8, 4, 2, null]);
    expect(s.map((x) => x.parameters)).toEqual([64, 128, 256, 512, 1024, 2048]);
    const lr = budgetSettings('svd-llm', 32, 32);
    expect(lr[0]).toEqual({ value: 1, parameters: 64 });
    expect(lr[lr.length - 2]).toEqual({ value: 15, parameters: 960 });
    expect(budgetSettings('monarch-data', 32, 64, 4)[1]).toEqual({ value: 2, parameters: 4 * 2 * 96 });
  });
});

describe('matchBudget', () => {
  it('keeps the uniform setting when it already lands within 1%', () => {
    const r = matchBudget(modulesOf('lowrank').slice(0, 2), 0.5);
    expect(r.how).toMatch(/every module/);
    expect(Math.abs(r.ratio - 0.5)).toBeLessThanOrEqual(0.005);
  });

  it('block-diagonal at 80%: halves the least sensitive modules and leaves the most sensitive dense', () => {
    const sensitivity: Record<string, number> = {
      q: 5,
      k: 0.1,
      up: 0.2,
      down: 9,
      q1: 1,
      k1: 2,
      up1: 3,
      down1: 4,
    };
    const r = matchBudget(
      modulesOf('block-diag', 4, (n) => sensitivity[n]),
      0.8,
    );
    expect(Math.abs(r.ratio - 0.8)).toBeLessThanOrEqual(0.008);
    const by = new Map(r.modules.map((m) => [m.name, m.setting.value]));
    // the most sensitive module is kept dense, the least sensitive compressed
    expect(by.get('down')).toBeNull();
    expect(by.get('k')).not.toBeNull();
    expect(r.parameters).toBe(r.modules.reduce((s, m) => s + m.setting.parameters, 0));
    expect(r.denseParameters).toBe(denseOf());
  });

  it('throws when no assignment lands within the tolerance', () => {
    expect(() => matchBudget([{ name: 'x', settings: budgetSettings('block-diag', 4, 4) }], 0.8)).toThrow(
      /within/,
    );
  });
});

describe('allocateBudget', () => {
  it('gives the parameters to the module whose cost falls fastest, within 1% of the budget', () => {
    const modules: BudgetModule[] = SHAPES.map(([name, m, n]) => {
      const settings = budgetSettings('lowrank', m, n);
      const weight = name === 'down' ? 100 : 1;
      // a convex curve: each added rank halves what is left
      return { name, settings, cost: (k: number) => weight * 0.5 ** (settings[k].value ?? 64) };
    });
    const r = allocateBudget(modules, 0.4);
    expect(Math.abs(r.ratio - 0.4)).toBeLessThanOrEqual(0.004);
    const rank = new Map(r.modules.map((m) => [m.name, m.setting.value ?? Number.POSITIVE_INFINITY]));
    // the heavy module gets more rank than an equally shaped light one would at a uniform split
    const uniformDown = budgetSettings('lowrank', 32, 64)[
      nearestSetting(budgetSettings('lowrank', 32, 64), 0.4)
    ].value as number;
    expect(rank.get('down')).toBeGreaterThanOrEqual(uniformDown);
  });
});

function randomTensor(shape: number[], seed: number): Tensor {
  const rng = new Rng(seed);
  const t = new Tensor(shape);
  for (let i = 0; i < t.size; i++) t.data[i] = rng.normal();
  return t;
}

/** ‖(A − Â)Xᵀ‖² / ‖AXᵀ‖² through dense products. */
function outputError(A: Tensor, approx: Tensor, X: Tensor): number {
  const [m, n] = A.shape;
  const E = new Tensor(
    [m, n],
    A.data.map((v, i) => v - approx.data[i]),
  );
  const num = cpuKernels.matmul(E, X, { transposeB: true });
  const den = cpuKernels.matmul(A, X, { transposeB: true });
  let a = 0;
  let b = 0;
  for (let i = 0; i < num.size; i++) a += num.data[i] ** 2;
  for (let i = 0; i < den.size; i++) b += den.data[i] ** 2;
  return Math.sqrt(a / b);
}

describe('monarchDataAware', () => {
  // correlated inputs across column blocks: mixing matrix applied to white noise
  const n = 16;
  const A = randomTensor([16, n], 1);
  const Z = randomTensor([256, n], 2);
  const M = randomTensor([n, n], 3);
  for (let i = 0; i < n; i++) M.data[i * n + i] += 3;
  const X = cpuKernels.matmul(Z, M);

  it('lowers the weighted objective every sweep and beats the weight-only Monarch on the calibration outputs', () => {
    const r = monarchDataAware(A, { numBlocks: 4, rank: 1, inputs: X, steps: 5, damping: 0 });
    for (let k = 1; k < r.objective.length; k++)
      expect(r.objective[k]).toBeLessThanOrEqual(r.objective[k - 1] * (1 + 1e-9));
    expect(r.objective[r.objective.length - 1]).toBeLessThan(r.objective[0]);
    const plain = monarchFactorize(A, 4, 1);
    const data = outputError(A, r.matrix.toDense(), X);
    expect(data).toBeCloseTo(r.outputError, 4);
    expect(data).toBeLessThan(outputError(A, plain.toDense(), X));
    expect(r.matrix.parameterCount).toBe(plain.parameterCount);
  });

  it('is the registry method monarch-data, and compressAtSettings leaves dense modules out', async () => {
    expect(findFactorizer('monarch-data')?.kind).toBe('monarch');
    const source: TensorSource = {
      names: () => ['a.weight', 'b.weight'],
      shapeOf: () => [16, 16],
      readTensor: async () => A,
      close: async () => {},
    };
    const settings = budgetSettings('monarch-data', 16, 16, 4);
    const out = await compressAtSettings(
      source,
      [
        { name: 'a', setting: settings[0], denseParameters: 256 },
        { name: 'b', setting: settings[settings.length - 1], denseParameters: 256 },
      ],
      { method: 'monarch-data', blocks: 4, steps: 2, calibration: new Map([['a', X]]) },
    );
    expect([...out.replacements.keys()]).toEqual(['a']);
    expect(out.replacements.get('a')?.parameterCount).toBe(settings[0].parameters);
  });
});
