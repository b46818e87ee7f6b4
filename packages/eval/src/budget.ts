import { type Backend, InvalidArgumentError, type StructuredMatrix, type Tensor } from '@blastkit/core';
import {
  allocateBudget,
  type BudgetedMethod,
  type BudgetModule,
  type BudgetResult,
  type BudgetSetting,
  budgetSettings,
  CALIBRATED_METHODS,
  type CalibrationFeed,
  type CompressMethod,
  compressAtSettings,
  type LoadedModel,
  linearInputs,
  linearWeights,
  loadModel,
  type ModuleSelection,
  matchBudget,
  nearestSetting,
  type OpenedModel,
  type SettingsCompressOptions,
  selectLinears,
  type TensorSource,
} from '@blastkit/models';
import type { CausalLm } from './causal-lm.js';
import { compareModelsOnSequences } from './metrics.js';
import type { WindowProtocol } from './windows.js';

/** A decoder with some modules replaced, loaded for one measurement and freed after it. */
export type LoadCandidate = (
  replacements: ReadonlyMap<string, StructuredMatrix>,
  biases: ReadonlyMap<string, Tensor>,
) => Promise<CausalLm & { dispose(): void }>;

/** How output sensitivity is measured: KL to the dense model on text the evaluation never sees. */
export interface SensitivityProbe {
  /** The dense model. */
  reference: CausalLm;
  load: LoadCandidate;
  /** Token sequences (calibration text, not the held-out text), each one window. */
  sequences: readonly (readonly number[])[];
  protocol: WindowProtocol;
}

/**
 * Output sensitivity of each module: KL(dense ‖ model) per token on the probe's sequences with that module alone
 * replaced (0 where `replacements` has none).
 */
export async function moduleSensitivity(
  probe: SensitivityProbe,
  modules: readonly string[],
  replacements: ReadonlyMap<string, StructuredMatrix>,
  biases: ReadonlyMap<string, Tensor>,
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const name of modules) {
    const one = replacements.get(name);
    if (!one) {
      out.set(name, 0);
      continue;
    }
    const bias = biases.get(name);
    const model = await probe.load(new Map([[name, one]]), bias ? new Map([[name, bias]]) : new Map());
    try {
      const c = await compareModelsOnSequences(probe.reference, model, probe.sequences, probe.protocol);
      out.set(name, Math.max(c.klDivergence, 0));
    } finally {
      model.dispose();
    }
  }
  return out;
}

/**
 * The error curve of a rank-r approximation of W, tail(r) = Σ_{t ≥ r} λ_t (eigenvalues in descending order):
 * of W·XᵀX·Wᵀ with inputs X, = ‖(W − Ŵ_r)Xᵀ‖² at SVD-LLM's optimum; of W·Wᵀ without, = ‖W − Ŵ_r‖²_F.
 */
export async function truncationTail(be: Backend, W: Tensor, X?: Tensor): Promise<Float64Array> {
  const handles = [be.upload(W)];
  let rows = handles[0];
  if (X) {
    handles.push(be.upload(X));
    rows = be.matmul(handles[0], handles[1], { transposeB: true }); // [m, N]
    handles.push(rows);
  }
  const M = be.matmul(rows, rows, { transposeB: true });
  const eig = be.eigh(M);
  const values = (await be.download(eig.values)).data;
  for (const h of [...handles, M, eig.values, eig.vectors]) be.dispose(h);
  const m = values.length;
  const tail = new Float64Array(m + 1);
  for (let t = m - 1; t >= 0; t--) tail[t] = tail[t + 1] + Math.max(values[m - 1 - t], 0);
  return tail;
}

/** Methods whose settings are ranks, so that a truncation curve predicts their error at each setting. */
export const RANKED: ReadonlySet<BudgetedMethod> = new Set([
  'blast',
  'blast-data',
  'lowrank',
  'svd-llm',
  'rom',
]);

/** How {@link compressToBudget} spreads the budget. */
export type BudgetAllocation =
  /** Every module at the structure's nearest setting; the most sensitive moved up where that misses. */
  | 'matched'
  /** Settings chosen to minimise the summed predicted KL (`allocateBudget`). */
  | 'sensitivity';

export interface CompressToBudgetOptions {
  method: BudgetedMethod;
  /** Kept fraction of the modules' dense parameters, met within 1%. */
  ratio: number;
  allocation: BudgetAllocation;
  /** Everything else `compressAtSettings` takes (covariance, steps, calibration inputs, backend…). */
  compress: Omit<SettingsCompressOptions, 'method'> & { backend: Backend };
  probe: SensitivityProbe;
}

export interface CompressToBudgetResult {
  replacements: Map<string, StructuredMatrix>;
  biases: Map<string, Tensor>;
  plan: BudgetResult;
  /** Measured KL per module at its nearest setting, where the plan needed it. */
  sensitivity?: Map<string, number>;
}

/**
 * Compresses `modules` of `source` at a model-level budget of exactly `ratio` (kept parameters within 1%):
 * first every module at the structure's nearest setting; if that meets the budget and no allocation is asked
 * for, done. Otherwise each module's output sensitivity is measured (KL with it alone compressed,
 * {@link moduleSensitivity}) and either the most sensitive modules move one setting up (`matched`, for coarse
 * structures) or the settings are allocated by predicted KL (`sensitivity`): a module's KL at its nearest
 * setting scaled by how its truncation error at each rank compares with that at the nearest one (SVD-LLM's
 * exact curve with calibration inputs; for other structures a proxy). Matrices whose setting did not change
 * are reused.
 */
export async function compressToBudget(
  source: TensorSource,
  modules: readonly string[],
  options: CompressToBudgetOptions,
): Promise<CompressToBudgetResult> {
  const { method, ratio, probe } = options;
  if (options.allocation === 'sensitivity' && !RANKED.has(method))
    throw new InvalidArgumentError(
      `budget: sensitivity allocation needs a rank per module (${[...RANKED].join(', ')}), not ${method}`,
    );
  const blocks = options.compress.blocks ?? 16;
  const settings = new Map<string, BudgetSetting[]>(
    modules.map((name) => {
      const [m, n] = source.shapeOf(`${name}.weight`) as [number, number];
      return [name, budgetSettings(method, m, n, blocks)];
    }),
  );
  const settingsOf = (name: string) => settings.get(name) as BudgetSetting[];
  const nearest = modules.map((name) => {
    const s = settingsOf(name);
    return { name, setting: s[nearestSetting(s, ratio)], denseParameters: s[s.length - 1].parameters };
  });
  const compress = { ...options.compress, method };
  const first = await compressAtSettings(source, nearest, compress);
  const plain = modules.map((name) => ({ name, settings: settingsOf(name) }));
  let uniform: BudgetResult | undefined;
  try {
    uniform = matchBudget(plain, ratio);
  } catch {
    uniform = undefined;
  }
  if (uniform && options.allocation === 'matched' && uniform.how.startsWith('every module'))
    return { ...first, plan: uniform };

  const sensitivity = await moduleSensitivity(probe, modules, first.replacements, first.biases);
  let plan: BudgetResult;
  if (options.allocation === 'sensitivity') {
    const costed: BudgetModule[] = [];
    for (const name of modules) {
      const s = settingsOf(name);
      const tail = await truncationTail(
        compress.backend,
        await source.readTensor(`${name}.weight`),
        compress.calibration?.get(name),
      );
      const at = (k: number) => tail[Math.min(s[k].value ?? tail.length - 1, tail.length - 1)];
      const base = at(nearestSetting(s, ratio)) || 1e-30;
      const kl = sensitivity.get(name) ?? 0;
      costed.push({ name, settings: s, cost: (k) => (kl * at(k)) / base });
    }
    plan = allocateBudget(costed, ratio);
  } else
    plan = matchBudget(
      plain.map((x) => ({ ...x, cost: () => sensitivity.get(x.name) ?? 0 })),
      ratio,
    );
  const reuse = { settings: new Map(nearest.map((a) => [a.name, a.setting.value])), ...first };
  const done = await compressAtSettings(source, plan.modules, compress, reuse);
  return { ...done, plan, sensitivity };
}

export interface SensitivityPlanOptions {
  method: BudgetedMethod;
  ratio: number;
  backend: Backend;
  /** The calibration feed (token sequences): the calibrated methods' inputs and the KL probe's text. */
  feed: CalibrationFeed;
  selection?: ModuleSelection;
  blocks?: number;
  steps?: number;
  seed?: number;
  covariance?: SettingsCompressOptions['covariance'];
  /** Calibration sequences the KL is measured on (default 4). */
  probeSequences?: number;
}

export interface SensitivityPlan {
  /** The rank of every module the plan compresses (modules it keeps dense are absent), as a budget file's. */
  ranks: Map<string, number>;
  plan: BudgetResult;
  /** KL to the dense model per module with that module alone at its nearest setting. */
  sensitivity: Map<string, number>;
  /** The calibration sequences the KL was measured on. */
  probe: { sequences: number; tokens: number };
}

/**
 * Ranks for `compress` at a model-level budget allocated by measured output sensitivity, for a decoder of any
 * registered architecture: the selected linears compressed once at the structure's nearest setting, the KL of
 * each alone measured on the first calibration sequences, the ranks allocated to minimise the predicted summed
 * KL ({@link compressToBudget}). What it compressed is dropped: the caller compresses at the returned ranks (a
 * planning pass costs one compression).
 */
export async function planBySensitivity(
  opened: OpenedModel,
  options: SensitivityPlanOptions,
): Promise<SensitivityPlan> {
  const decoder = opened.entry.decoder;
  if (!decoder || options.feed.kind !== 'tokens')
    throw new InvalidArgumentError(
      `sensitivity allocation measures next-token KL: decoders only, not ${opened.entry.label} models`,
    );
  const { backend } = options;
  const modules = selectLinears(opened, options.selection ?? {});
  const prefix = decoder.prefixToken(opened.config);
  // the probe's windows get the prefix (BOS) themselves, so the sequences lose theirs
  const room = decoder.context(opened.config) - (prefix === null ? 0 : 1);
  const sequences = options.feed.sequences
    .slice(0, options.probeSequences ?? 4)
    .map((s) => (prefix !== null && s[0] === prefix ? s.slice(1) : [...s]).slice(0, room))
    .filter((s) => s.length > 1);
  if (sequences.length === 0) throw new InvalidArgumentError('sensitivity allocation: no calibration text');
  const longest = Math.max(...sequences.map((s) => s.length));
  const reference = (await loadModel(opened, backend)) as unknown as CausalLm & { dispose(): void };
  try {
    const needsInputs =
      CALIBRATED_METHODS.includes(options.method as CompressMethod) || options.method === 'monarch-data';
    const calibration = needsInputs
      ? await linearInputs(opened, backend, modules, options.feed, reference as unknown as LoadedModel)
      : undefined;
    const r = await compressToBudget(linearWeights(opened), modules, {
      method: options.method,
      ratio: options.ratio,
      allocation: 'sensitivity',
      compress: {
        backend,
        ...(calibration ? { calibration } : {}),
        ...(options.blocks === undefined ? {} : { blocks: options.blocks }),
        ...(options.steps === undefined ? {} : { steps: options.steps }),
        ...(options.seed === undefined ? {} : { seed: options.seed }),
        ...(options.covariance ? { covariance: options.covariance } : {}),
      },
      probe: {
        reference,
        load: async (replacements, biases) =>
          (await loadModel(opened, backend, { replacements, biases })) as unknown as CausalLm & {
            dispose(): void;
          },
        sequences,
        protocol: { window: longest + (prefix === null ? 0 : 1), stride: longest, prefixToken: prefix },
      },
    });
    const ranks = new Map<string, number>();
    for (const a of r.plan.modules) if (a.setting.value !== null) ranks.set(a.name, a.setting.value);
    return {
      ranks,
      plan: r.plan,
      sensitivity: r.sensitivity ?? new Map(),
      probe: { sequences: sequences.length, tokens: sequences.reduce((s, x) => s + x.length, 0) },
    };
  } finally {
    reference.dispose();
  }
}
