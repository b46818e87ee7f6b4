import {
  type Backend,
  InvalidArgumentError,
  relativeFrobeniusError,
  type StructuredMatrix,
  type Tensor,
} from '@blastkit/core';
import {
  blastDataAware,
  blastFast,
  blockDiagonalFactorize,
  type CheckpointStore,
  factorizeMany,
  lowRankFactorize,
  MemoryCheckpointStore,
  monarchFactorize,
  rankForRatio,
  romFactorize,
  svdLlmFactorize,
} from '@blastkit/factorize';
import { type RatioPattern, ratioFor } from '../select.js';
import type { TensorSource } from '../tensor-source.js';

export const COMPRESS_METHODS = [
  'blast',
  'blast-data',
  'lowrank',
  'svd-llm',
  'rom',
  'monarch',
  'block-diag',
] as const;

/** Methods that fit each layer to its outputs on calibration inputs (`calibration` required). */
export const CALIBRATED_METHODS: readonly CompressMethod[] = ['blast-data', 'svd-llm', 'rom'];
export type CompressMethod = (typeof COMPRESS_METHODS)[number];

export interface CompressOptions {
  method: CompressMethod;
  /** Kept fraction of each selected linear's parameters. */
  ratio: number;
  /** Per-module overrides of `ratio`, by name suffix (the longest matching suffix wins). */
  ratioPattern?: RatioPattern;
  /** Exact ranks by module name (e.g. from `planCompression(…, { allocate: true })`), overriding the ratio. */
  ranks?: ReadonlyMap<string, number>;
  /** Blocks per side for BLAST, Monarch and block-diagonal (default 16, as the reference). */
  blocks?: number;
  /** BLAST solver steps (default: the fast solver's). */
  steps?: number;
  seed?: number;
  backend?: Backend;
  /** Where finished matrices go; a run with the same store resumes (default: in memory). */
  store?: CheckpointStore;
  signal?: AbortSignal;
  onMatrix?: (event: CompressedModule & { index: number; total: number }) => void;
  /**
   * Calibration inputs [N, in] of each module (see `collectLinearInputs`): required by 'blast-data', which
   * minimises the error of the layer's outputs on them instead of the weight error.
   */
  calibration?: ReadonlyMap<string, Tensor>;
  /**
   * 'blast-data': 'full' (default) fits ‖(A − Â)Xᵀ‖ with the whole input covariance; 'block-diagonal' keeps only
   * the covariance inside each column block (the earlier, cheaper method).
   */
  covariance?: 'full' | 'block-diagonal';
  /**
   * Sequential calibration (as ROM does): called before each block after the first (blocks as `groupByBlock`
   * cuts them) with the replacements and biases made so far, it returns the next block's calibration inputs as
   * they are in the model with those already in place. Without it every module sees the dense model's inputs.
   */
  recalibrate?: (
    modules: readonly string[],
    done: {
      replacements: ReadonlyMap<string, StructuredMatrix>;
      biases: ReadonlyMap<string, Tensor>;
    },
  ) => Promise<ReadonlyMap<string, Tensor>>;
  /** Progress inside one matrix (solver steps). */
  onStep?: (module: string, step: number, totalSteps: number) => void;
}

export interface CompressedModule {
  name: string;
  shape: [number, number];
  kind: StructuredMatrix['kind'];
  rank: number | null;
  blocks: number | null;
  parameters: number;
  denseParameters: number;
  relativeError: number;
  seconds: number;
  resumed: boolean;
}

export interface CompressResult {
  replacements: Map<string, StructuredMatrix>;
  /** Output biases that come with some replacements (ROM's mean compensation), by module name. */
  biases: Map<string, Tensor>;
  modules: CompressedModule[];
}

/**
 * Factorizes the weights of the given linear modules (names without `.weight`), one at a time straight from
 * the source (one dense matrix in memory at a time), each to `ratio` of its parameters, with a checkpoint per
 * matrix. Returns the structured replacements to pass to the model's `load`.
 */
export async function compressLinears(
  source: TensorSource,
  modules: readonly string[],
  options: CompressOptions,
): Promise<CompressResult> {
  const blocks = options.blocks ?? 16;
  if (CALIBRATED_METHODS.includes(options.method))
    for (const name of modules)
      if (!options.calibration?.has(name))
        throw new InvalidArgumentError(`${options.method}: no calibration inputs for '${name}'`);
  const plans = new Map<string, { rank: number | null; blocks: number | null }>();
  for (const name of modules) {
    const [m, n] = source.shapeOf(`${name}.weight`) as [number, number];
    const plan = planModule(
      options.method,
      m,
      n,
      ratioFor(name, options.ratio, options.ratioPattern),
      blocks,
      name,
    );
    const rank = options.ranks?.get(name);
    if (rank !== undefined) {
      if (plan.rank === null) throw new InvalidArgumentError(`${name}: ${options.method} takes no rank`);
      if (!(Number.isInteger(rank) && rank >= 1))
        throw new InvalidArgumentError(`${name}: rank ${rank} is not a positive integer`);
      plan.rank = rank;
    }
    plans.set(name, plan);
  }
  const modulesOut: CompressedModule[] = [];
  const extras = new Map<string, Record<string, Tensor>>();
  const replacements = new Map<string, StructuredMatrix>();
  const store = options.store ?? new MemoryCheckpointStore();
  // sequential: one block at a time, each calibrated on the model with the blocks before it compressed
  const groups = options.recalibrate ? groupByBlock(modules) : [modules];
  let offset = 0;
  for (const [g, group] of groups.entries()) {
    let calibration = options.calibration;
    if (options.recalibrate && g > 0) {
      const biasesSoFar = new Map(
        [...extras].filter(([, e]) => e.bias !== undefined).map(([name, e]) => [name, e.bias]),
      );
      calibration = await options.recalibrate(group, { replacements, biases: biasesSoFar });
    }
    const groupOptions = { ...options, calibration };
    const first = offset;
    const done = await factorizeMany(
      group.map((name) => ({ name, load: () => source.readTensor(`${name}.weight`) })),
      async (A: Tensor, ctx) => {
        const plan = plans.get(ctx.name) as { rank: number | null; blocks: number | null };
        return solveModule(ctx.name, A, groupOptions, plan, ctx.seed, ctx.signal, (step, total) =>
          options.onStep?.(ctx.name, step, total),
        );
      },
      {
        store,
        extras,
        // module i gets seed + i whether or not the run is sequential
        seed: (options.seed ?? 0) + first,
        signal: options.signal,
        onMatrix: (groupEvent) => {
          const e = { ...groupEvent, index: groupEvent.index + first, total: modules.length };
          const plan = plans.get(e.name) as { rank: number | null; blocks: number | null };
          const [m, n] = source.shapeOf(`${e.name}.weight`) as [number, number];
          const event: CompressedModule = {
            name: e.name,
            shape: [m, n] as [number, number],
            kind: KIND_OF[options.method],
            ...plan,
            parameters: 0,
            denseParameters: m * n,
            relativeError: e.relativeError,
            seconds: e.seconds,
            resumed: e.resumed,
          };
          modulesOut.push(event);
          options.onMatrix?.({ ...event, index: e.index, total: e.total });
        },
      },
    );
    for (const [name, matrix] of done) replacements.set(name, matrix);
    offset += group.length;
  }
  for (const entry of modulesOut)
    entry.parameters = (replacements.get(entry.name) as StructuredMatrix).parameterCount;
  const biases = new Map(
    [...extras].filter(([, e]) => e.bias !== undefined).map(([name, e]) => [name, e.bias]),
  );
  for (const entry of modulesOut) entry.parameters += biases.get(entry.name)?.size ?? 0;
  return { replacements, biases, modules: modulesOut };
}

/**
 * Modules in runs of one block each, in the given order: the block is the name up to its first numeric part
 * ('model.layers.3.', 'transformer.h.3.'); names without one form their own group.
 */
export function groupByBlock(modules: readonly string[]): string[][] {
  const groups: string[][] = [];
  let key: string | undefined;
  for (const name of modules) {
    const match = /^(.*?\.\d+)\./.exec(name);
    const k = match ? match[1] : name;
    if (groups.length === 0 || k !== key) groups.push([]);
    key = k;
    groups[groups.length - 1].push(name);
  }
  return groups;
}

const KIND_OF: Record<CompressMethod, StructuredMatrix['kind']> = {
  blast: 'blast',
  'blast-data': 'blast',
  lowrank: 'low-rank',
  'svd-llm': 'low-rank',
  monarch: 'monarch',
  'block-diag': 'block-diagonal',
  rom: 'low-rank',
};

function planModule(
  method: CompressMethod,
  m: number,
  n: number,
  ratio: number,
  blocks: number,
  name: string,
) {
  // the budget error names the module, so a model-wide run says which layer cannot meet it
  const withName = <T>(f: () => T): T => {
    try {
      return f();
    } catch (err) {
      if (err instanceof InvalidArgumentError) throw new InvalidArgumentError(`${name}: ${err.message}`);
      throw err;
    }
  };
  return withName(() => {
    switch (method) {
      case 'blast':
      case 'blast-data':
        return { rank: rankForRatio('blast', m, n, ratio, blocks).rank, blocks };
      case 'lowrank':
      case 'svd-llm':
        return { rank: rankForRatio('low-rank', m, n, ratio).rank, blocks: null };
      case 'rom': {
        // equal parameters: the m-entry output bias comes out of the budget
        const r = Math.min(Math.floor((ratio * m * n - m) / (m + n)), m, n);
        if (r < 1)
          throw new InvalidArgumentError(`rom cannot fit ${ratio} of a ${m}×${n} matrix with its bias`);
        return { rank: r, blocks: null };
      }
      case 'monarch':
        return { rank: rankForRatio('monarch', m, n, ratio, blocks).rank, blocks };
      case 'block-diag':
        return { rank: null, blocks: rankForRatio('block-diagonal', m, n, ratio).numBlocks };
    }
  });
}

async function solveModule(
  name: string,
  A: Tensor,
  options: CompressOptions,
  plan: { rank: number | null; blocks: number | null },
  seed: number,
  signal: AbortSignal | undefined,
  onStep: (step: number, total: number) => void,
): Promise<{
  matrix: StructuredMatrix;
  relativeError: number;
  outputError?: number;
  extras?: Record<string, Tensor>;
}> {
  const rank = plan.rank as number;
  const blocks = plan.blocks as number;
  const solver = {
    numBlocks: blocks,
    rank,
    seed,
    signal,
    backend: options.backend,
    onProgress: (p: { step: number; totalSteps: number }) => onStep(p.step, p.totalSteps),
    ...(options.steps === undefined ? {} : { steps: options.steps }),
  };
  switch (options.method) {
    case 'blast': {
      const r = await blastFast(A, solver);
      return { matrix: r.matrix, relativeError: r.relativeError };
    }
    case 'blast-data': {
      const r = await blastDataAware(A, {
        ...solver,
        inputs: options.calibration?.get(name) as Tensor,
        ...(options.covariance ? { covariance: options.covariance } : {}),
      });
      return { matrix: r.matrix, relativeError: r.relativeError, outputError: r.outputError };
    }
    case 'lowrank':
      return withError(A, await lowRankFactorize(A, rank, options.backend));
    case 'svd-llm': {
      const r = await svdLlmFactorize(A, options.calibration?.get(name) as Tensor, rank, options.backend);
      return withError(A, r.matrix);
    }
    case 'rom': {
      const r = romFactorize(A, options.calibration?.get(name) as Tensor, rank);
      return { ...withError(A, r.matrix), extras: { bias: r.bias } };
    }
    case 'monarch':
      return withError(A, monarchFactorize(A, blocks, rank));
    case 'block-diag':
      return withError(A, blockDiagonalFactorize(A, blocks));
  }
}

function withError(A: Tensor, matrix: StructuredMatrix) {
  return { matrix, relativeError: relativeFrobeniusError(matrix.toDense(), A) };
}
