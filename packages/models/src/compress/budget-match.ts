import { InvalidArgumentError, type StructuredMatrix, type Tensor } from '@blastkit/core';
import { findFactorizer } from '@blastkit/factorize';
import type { TensorSource } from '../tensor-source.js';
import { COMPRESS_METHODS, type CompressMethod, type CompressOptions, compressLinears } from './compress.js';

/**
 * One setting a structure can take on one module: `value` is the rank (BLAST, low-rank, SVD-LLM, ROM), the
 * per-block rank (Monarch) or the block count (block-diagonal); null keeps the module dense.
 */
export interface BudgetSetting {
  value: number | null;
  parameters: number;
}

/** Methods the budget step knows: compress's, plus factorizer-registry methods of a Monarch kind. */
export type BudgetedMethod = CompressMethod | 'monarch-data';

/**
 * Every setting of `method` on an m×n module, fewest parameters first, ending with dense (m·n). Settings that
 * would store at least as many parameters as dense are left out: nobody keeps a factorization larger than A.
 */
export function budgetSettings(method: BudgetedMethod, m: number, n: number, blocks = 16): BudgetSetting[] {
  const out: BudgetSetting[] = [];
  const dense = m * n;
  const push = (value: number, parameters: number) => {
    if (parameters < dense) out.push({ value, parameters });
  };
  switch (method) {
    case 'blast':
    case 'blast-data':
      for (let r = 1; r <= Math.min(m, n); r++) push(r, r * (m + n + blocks * blocks));
      break;
    case 'lowrank':
    case 'svd-llm':
      for (let r = 1; r <= Math.min(m, n); r++) push(r, r * (m + n));
      break;
    case 'rom':
      // ROM's m-entry output bias counts against its budget (as compress plans it)
      for (let r = 1; r <= Math.min(m, n); r++) push(r, r * (m + n) + m);
      break;
    case 'monarch':
    case 'monarch-data':
      if (m % blocks === 0 && n % blocks === 0)
        for (let r = 1; r <= Math.min(m, n) / blocks; r++) push(r, blocks * r * (m + n));
      break;
    case 'block-diag':
      for (let b = Math.min(m, n); b >= 2; b--) if (m % b === 0 && n % b === 0) push(b, dense / b);
      break;
    default:
      throw new InvalidArgumentError(`budget: unknown method '${method as string}'`);
  }
  out.push({ value: null, parameters: dense });
  return out;
}

export interface BudgetModule {
  name: string;
  /** Its settings, fewest parameters first (`budgetSettings`). */
  settings: readonly BudgetSetting[];
  /**
   * The loss of the module at setting index k (smaller is better; dense costs 0). For `matchBudget` only the
   * nearest setting's cost is read, as the module's sensitivity; `allocateBudget` reads the whole curve.
   */
  cost?: (k: number) => number;
}

export interface BudgetAssignment {
  name: string;
  setting: BudgetSetting;
  denseParameters: number;
}

export interface BudgetResult {
  modules: BudgetAssignment[];
  /** Kept parameters over the dense parameters of the given modules. */
  ratio: number;
  target: number;
  parameters: number;
  denseParameters: number;
  /** How the budget was met, in words (for the report). */
  how: string;
}

const sumOf = (xs: readonly { setting: BudgetSetting }[]) => xs.reduce((s, x) => s + x.setting.parameters, 0);

function result(
  modules: readonly BudgetModule[],
  chosen: number[],
  target: number,
  how: string,
): BudgetResult {
  const assigned = modules.map((mod, i) => ({
    name: mod.name,
    setting: mod.settings[chosen[i]],
    denseParameters: mod.settings[mod.settings.length - 1].parameters,
  }));
  const dense = assigned.reduce((s, a) => s + a.denseParameters, 0);
  const parameters = sumOf(assigned);
  return { modules: assigned, ratio: parameters / dense, target, parameters, denseParameters: dense, how };
}

/** The largest setting within ratio·(m·n): the structure's nearest setting at this ratio (or its smallest). */
export function nearestSetting(settings: readonly BudgetSetting[], ratio: number): number {
  const dense = settings[settings.length - 1].parameters;
  let k = 0;
  for (let i = 0; i < settings.length; i++) if (settings[i].parameters <= ratio * dense + 1e-9) k = i;
  return k;
}

/**
 * Matches a model-level budget exactly (the kept parameters of all `modules` within `tolerance` of
 * ratio × dense, relative): every module first takes the structure's nearest setting; when that misses —
 * coarse structures (block-diagonal keeps 1/b, Monarch moves in steps of b(m + n)) — the most sensitive
 * modules (highest cost at that setting) are moved one setting up at a time, up to dense, so that a subset
 * stays dense or two settings mix; when the smallest settings overshoot, the least sensitive move down.
 * Throws when no assignment gets within the tolerance.
 */
export function matchBudget(modules: readonly BudgetModule[], ratio: number, tolerance = 0.01): BudgetResult {
  if (!(ratio > 0 && ratio <= 1))
    throw new InvalidArgumentError(`budget: ratio must be in (0, 1], got ${ratio}`);
  const dense = modules.reduce((s, mod) => s + mod.settings[mod.settings.length - 1].parameters, 0);
  const target = ratio * dense;
  const lo = target * (1 - tolerance);
  const hi = target * (1 + tolerance);
  const chosen = modules.map((mod) => nearestSetting(mod.settings, ratio));
  const params = (i: number) => modules[i].settings[chosen[i]].parameters;
  let used = chosen.reduce((s, _, i) => s + params(i), 0);
  if (used >= lo && used <= hi) return result(modules, chosen, ratio, 'every module at the nearest setting');
  const sensitivity = modules.map((mod, i) => mod.cost?.(chosen[i]) ?? 0);
  // ties (no sensitivities given) fall back to the given order, so the result is deterministic
  const order = modules.map((_, i) => i).sort((a, b) => sensitivity[b] - sensitivity[a] || a - b);
  let raised = 0;
  let lowered = 0;
  if (used < lo) {
    // most sensitive first: one setting up per pass, up to dense, never past the upper bound
    for (let pass = 0; used < lo && pass < 10_000; pass++) {
      let moved = false;
      for (const i of order) {
        if (used >= lo) break;
        const next = chosen[i] + 1;
        if (next >= modules[i].settings.length) continue;
        const delta = modules[i].settings[next].parameters - params(i);
        if (used + delta > hi) continue;
        chosen[i] = next;
        used += delta;
        raised++;
        moved = true;
      }
      if (!moved) break;
    }
    // stuck short of the budget (every single step up overshoots): take the step that overshoots least on
    // the most sensitive module that has one, then move the least sensitive others down until it fits
    for (let attempt = 0; used < lo && attempt < modules.length; attempt++) {
      const i = order.find((x) => chosen[x] + 1 < modules[x].settings.length);
      if (i === undefined) break;
      const trial = [...chosen];
      trial[i]++;
      let total = used + modules[i].settings[trial[i]].parameters - params(i);
      for (const x of [...order].reverse()) {
        if (total <= hi) break;
        while (x !== i && trial[x] > 0 && total > hi) {
          const delta =
            modules[x].settings[trial[x]].parameters - modules[x].settings[trial[x] - 1].parameters;
          if (total - delta < lo) break;
          trial[x]--;
          total -= delta;
          lowered++;
        }
      }
      if (total > hi) break;
      chosen.splice(0, chosen.length, ...trial);
      used = total;
      raised++;
    }
  } else {
    for (let pass = 0; used > hi && pass < 10_000; pass++) {
      let moved = false;
      for (const i of [...order].reverse()) {
        if (used <= hi) break;
        if (chosen[i] === 0) continue;
        const delta = params(i) - modules[i].settings[chosen[i] - 1].parameters;
        if (used - delta < lo) continue;
        chosen[i]--;
        used -= delta;
        lowered++;
        moved = true;
      }
      if (!moved) break;
    }
  }
  if (used < lo || used > hi)
    throw new InvalidArgumentError(
      `budget: no assignment within ${tolerance * 100}% of ${ratio} (closest ${(used / dense).toFixed(4)})`,
    );
  const denseKept = chosen.filter((k, i) => modules[i].settings[k].value === null).length;
  const how =
    raised > 0
      ? `nearest setting, then the most sensitive modules one setting up (${raised} moves, ${denseKept} of ${modules.length} modules left dense)`
      : `nearest setting, then the least sensitive modules one setting down (${lowered} moves)`;
  return result(modules, chosen, ratio, how);
}

/**
 * Allocates a model-level budget across modules to minimise the summed cost Σ cost_i(setting_i): every module
 * starts at its smallest setting, then the move to a larger setting with the largest cost drop per added
 * parameter (any jump up, so non-convex curves do not stall it) is taken while it fits under
 * (1 + tolerance)·target. Throws when the smallest settings already break the budget or it ends short of
 * (1 − tolerance)·target.
 */
export function allocateBudget(
  modules: readonly BudgetModule[],
  ratio: number,
  tolerance = 0.01,
): BudgetResult {
  if (!(ratio > 0 && ratio <= 1))
    throw new InvalidArgumentError(`budget: ratio must be in (0, 1], got ${ratio}`);
  const costs = modules.map((mod) => {
    if (!mod.cost) throw new InvalidArgumentError(`budget: allocation needs a cost curve for '${mod.name}'`);
    return mod.settings.map((_, k) =>
      mod.settings[k].value === null ? 0 : (mod.cost as (k: number) => number)(k),
    );
  });
  const dense = modules.reduce((s, mod) => s + mod.settings[mod.settings.length - 1].parameters, 0);
  const target = ratio * dense;
  const hi = target * (1 + tolerance);
  const chosen = modules.map(() => 0);
  let used = modules.reduce((s, mod) => s + mod.settings[0].parameters, 0);
  if (used > hi)
    throw new InvalidArgumentError(
      `budget: the smallest settings alone keep ${(used / dense).toFixed(4)} > ${ratio}`,
    );
  for (;;) {
    let best = -1;
    let bestTo = 0;
    let bestGain = 0;
    for (let i = 0; i < modules.length; i++) {
      const s = modules[i].settings;
      const here = s[chosen[i]].parameters;
      for (let k = chosen[i] + 1; k < s.length; k++) {
        const delta = s[k].parameters - here;
        if (used + delta > hi) break;
        const gain = (costs[i][chosen[i]] - costs[i][k]) / delta;
        if (gain > bestGain) {
          best = i;
          bestTo = k;
          bestGain = gain;
        }
      }
    }
    if (best < 0) break;
    used += modules[best].settings[bestTo].parameters - modules[best].settings[chosen[best]].parameters;
    chosen[best] = bestTo;
  }
  if (used < target * (1 - tolerance))
    throw new InvalidArgumentError(
      `budget: allocation ended at ${(used / dense).toFixed(4)}, short of ${ratio}`,
    );
  const denseKept = chosen.filter((k, i) => modules[i].settings[k].value === null).length;
  return result(
    modules,
    chosen,
    ratio,
    `allocated by measured sensitivity (greedy cost drop per parameter; ${denseKept} of ${modules.length} modules dense)`,
  );
}

export interface SettingsCompressOptions
  extends Omit<CompressOptions, 'method' | 'ratio' | 'ranks' | 'ratioPattern'> {
  method: BudgetedMethod;
}

/**
 * Compresses each module at its assigned setting (dense ones are left out of the replacements), reusing the
 * matrices of `reuse` whose setting is the same. compress's methods go through `compressLinears` (ranks as
 * overrides, block counts as exact ratios); factorizer-registry methods ('monarch-data') one module at a time.
 */
export async function compressAtSettings(
  source: TensorSource,
  assignment: readonly BudgetAssignment[],
  options: SettingsCompressOptions,
  reuse?: {
    settings: ReadonlyMap<string, number | null>;
    replacements: ReadonlyMap<string, StructuredMatrix>;
    biases: ReadonlyMap<string, Tensor>;
  },
): Promise<{ replacements: Map<string, StructuredMatrix>; biases: Map<string, Tensor> }> {
  const replacements = new Map<string, StructuredMatrix>();
  const biases = new Map<string, Tensor>();
  const todo: BudgetAssignment[] = [];
  for (const a of assignment) {
    if (a.setting.value === null) continue;
    const old = reuse?.replacements.get(a.name);
    if (old && reuse?.settings.get(a.name) === a.setting.value) {
      replacements.set(a.name, old);
      const bias = reuse.biases.get(a.name);
      if (bias) biases.set(a.name, bias);
    } else todo.push(a);
  }
  if (todo.length === 0) return { replacements, biases };
  const blocks = options.blocks ?? 16;
  if ((COMPRESS_METHODS as readonly string[]).includes(options.method)) {
    const method = options.method as CompressMethod;
    const names = todo.map((a) => a.name);
    const common = { ...options, method, ratio: 1 };
    const done =
      method === 'block-diag'
        ? await compressLinears(source, names, {
            ...common,
            // a block count b as the ratio 1/b (the fewest blocks that fit it), nudged past rounding
            ratioPattern: Object.fromEntries(
              todo.map((a) => [a.name, 1 / (a.setting.value as number) + 1e-9]),
            ),
          })
        : await compressLinears(source, names, {
            ...common,
            ranks: new Map(todo.map((a) => [a.name, a.setting.value as number])),
          });
    for (const [k, v] of done.replacements) replacements.set(k, v);
    for (const [k, v] of done.biases) biases.set(k, v);
    return { replacements, biases };
  }
  const factorizer = findFactorizer(options.method);
  if (!factorizer) throw new InvalidArgumentError(`budget: no method '${options.method}'`);
  for (const [index, a] of todo.entries()) {
    const A = await source.readTensor(`${a.name}.weight`);
    const inputs = options.calibration?.get(a.name);
    if (factorizer.takes.inputs && !inputs)
      throw new InvalidArgumentError(`${options.method}: no calibration inputs for '${a.name}'`);
    const out = await factorizer.solve(A, {
      rank: a.setting.value as number,
      numBlocks: blocks,
      seed: (options.seed ?? 0) + index,
      backend: options.backend,
      signal: options.signal,
      ...(inputs ? { inputs } : {}),
      ...(options.steps === undefined ? {} : { steps: options.steps }),
    });
    replacements.set(a.name, out.matrix);
  }
  return { replacements, biases };
}
