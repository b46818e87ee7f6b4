import { InvalidArgumentError, ShapeError, type StructuredMatrix } from '@blastkit/core';
import {
  FACTORIZER_NAMES,
  FACTORIZERS,
  type FactorizeProgress,
  type FactorizerMethod,
  type FactorizerName,
  findFactorizer,
  rankForRatio,
  referenceRank,
  relativeFrobeniusError,
} from '@blastkit/factorize';
import { checkOutputFile, OutputSafetyError, writeSafetensors } from '@blastkit/safetensors';
import { openCliBackend } from '../backends.js';
import { InterruptedError, UsageError } from '../errors.js';
import { readMatrixArgument } from '../io/matrix-input.js';

/** `--method`'s choices: @blastkit/factorize's method registry, in its order. */
export const FACTORIZE_METHODS = FACTORIZER_NAMES;
export type FactorizeMethod = FactorizerName;

export interface FactorizeCommandOptions {
  input: string;
  method: FactorizeMethod;
  rank?: number;
  ratio?: number;
  /** 'budget' (default): the largest rank within ratio·m·n parameters; 'reference': ⌊ratio·mn/(m+n)⌋ to ×16. */
  rankRule?: 'budget' | 'reference';
  blocks?: number;
  steps?: number;
  seed?: number;
  backend?: string;
  /** Calibration inputs [N, n] for blast-data. */
  calibration?: string;
  out: string;
  onProgress?: (p: FactorizeProgress) => void;
  signal?: AbortSignal;
}

export interface FactorizeCommandResult {
  input: string;
  out: string;
  method: FactorizeMethod;
  kind: StructuredMatrix['kind'];
  shape: [number, number];
  rank: number | null;
  blocks: number | null;
  steps: number | null;
  seed: number;
  backend: string;
  relativeError: number;
  /** blast-data only: ‖(A − Â)Xᵀ‖/‖AXᵀ‖ on the calibration inputs. */
  outputError?: number;
  parameters: number;
  denseParameters: number;
  /** parameters / (m·n), as the reference prints it. */
  compressionRatio: number;
  seconds: number;
}

const DEFAULT_BLOCKS = 16;
/** The format tag in the `__metadata__` of a factors file, with its version. */
export const FACTORS_FORMAT = { format: 'blastkit-factors', version: '1' } as const;

/** `blastkit factorize`: one dense matrix → structured factors in a safetensors file. */
export async function runFactorize(options: FactorizeCommandOptions): Promise<FactorizeCommandResult> {
  const factorizer = findFactorizer(options.method);
  if (!factorizer)
    throw new UsageError(
      `--method: unknown method '${options.method}' (one of ${FACTORIZE_METHODS.join(', ')})`,
    );
  const method = factorizer.name as FactorizeMethod;
  const { takes } = factorizer;
  if (takes.rank && (options.rank === undefined) === (options.ratio === undefined))
    throw new UsageError('give exactly one of --rank and --ratio');
  if (!takes.rank && options.rank !== undefined)
    throw new UsageError(`--rank: ${method} has no rank; give --blocks or --ratio`);
  if (takes.inputs && options.calibration === undefined)
    throw new UsageError(`--method ${method} needs --calibration X.npy (the layer inputs, one per row)`);
  if (!takes.inputs && options.calibration !== undefined)
    throw new UsageError(
      `--calibration is only used by --method ${FACTORIZERS.filter((m) => m.takes.inputs)
        .map((m) => m.name)
        .join(' or ')}`,
    );
  if (!takes.blocks && options.blocks !== undefined)
    throw new UsageError(`--blocks: ${method} has no blocks`);
  // the factors never overwrite an input, nor a file blastkit did not write
  const inputs = [options.input, options.calibration]
    .filter((s): s is string => s !== undefined)
    .map(matrixFile);
  let out: string;
  try {
    out = await checkOutputFile(options.out, inputs);
  } catch (err) {
    if (err instanceof OutputSafetyError) throw new UsageError(err.message);
    throw err;
  }
  const seed = options.seed ?? 0;
  const answered = await openCliBackend(options.backend ?? 'auto');
  const backend = answered.backend;
  const backendName = answered.description.name;
  const A = await readMatrixArgument(options.input, 'input');
  const [m, n] = A.shape as [number, number];
  try {
    const plan = planRank(factorizer, options, m, n);
    const inputs = options.calibration
      ? await readMatrixArgument(options.calibration, 'calibration')
      : undefined;
    const start = performance.now();
    const solved = await factorizer.solve(A, {
      rank: plan.rank,
      numBlocks: plan.blocks,
      seed,
      backend,
      inputs,
      onProgress: options.onProgress,
      signal: options.signal,
      ...(options.steps === undefined ? {} : { steps: options.steps }),
    });
    const seconds = (performance.now() - start) / 1000;
    const { matrix } = solved;
    const relativeError = solved.relativeError ?? relativeFrobeniusError(matrix.toDense(), A);
    if (!Number.isFinite(relativeError))
      throw new Error(`factorize: the ${method} solve produced non-finite factors (error ${relativeError})`);
    const result: FactorizeCommandResult = {
      input: options.input,
      out: options.out,
      method,
      kind: matrix.kind,
      shape: [m, n],
      rank: plan.rank ?? null,
      blocks: plan.blocks ?? null,
      steps: solved.steps ?? null,
      seed,
      backend: backendName,
      relativeError,
      ...(solved.outputError === undefined ? {} : { outputError: solved.outputError }),
      parameters: matrix.parameterCount,
      denseParameters: m * n,
      compressionRatio: matrix.parameterCount / (m * n),
      seconds,
    };
    await writeSafetensors(out, matrix.toNamedTensors(), {
      ...FACTORS_FORMAT,
      kind: matrix.kind,
      method,
      shape: JSON.stringify([m, n]),
      ...(plan.rank === undefined ? {} : { rank: String(plan.rank) }),
      ...(plan.blocks === undefined ? {} : { blocks: String(plan.blocks) }),
      seed: String(seed),
      relativeError: String(relativeError),
    });
    return result;
  } catch (err) {
    if (options.signal?.aborted) throw new InterruptedError('factorize: interrupted; nothing was written');
    // bad shapes, ranks, budgets and NaNs are the user's to fix: report them as usage errors
    if (err instanceof InvalidArgumentError || err instanceof ShapeError) throw new UsageError(err.message);
    throw err;
  } finally {
    await backend.close?.();
  }
}

/** The file a matrix argument reads: 'model.safetensors:<tensor>' → 'model.safetensors'. */
function matrixFile(spec: string): string {
  const at = spec.toLowerCase().lastIndexOf('.safetensors:');
  return at >= 0 ? spec.slice(0, at + '.safetensors'.length) : spec;
}

interface RankPlan {
  rank?: number;
  blocks?: number;
}

function planRank(
  factorizer: FactorizerMethod,
  options: FactorizeCommandOptions,
  m: number,
  n: number,
): RankPlan {
  const { ratio } = options;
  const { name, kind, takes } = factorizer;
  const blocks = options.blocks ?? (takes.blocks ? DEFAULT_BLOCKS : undefined);
  // a block-diagonal solve checks its own blocks: it picks them from the ratio
  if (blocks !== undefined && takes.rank && (m % blocks !== 0 || n % blocks !== 0))
    throw new UsageError(
      `--blocks: ${blocks} blocks must divide both sides of the ${m}×${n} matrix` +
        (options.blocks === undefined ? ` (${DEFAULT_BLOCKS} is the default; pass --blocks)` : ''),
    );
  if (!takes.rank) {
    if (options.blocks !== undefined) return { blocks: options.blocks };
    if (ratio === undefined) throw new UsageError(`${name} needs --blocks or --ratio`);
    return { blocks: rankForRatio(kind, m, n, ratio).numBlocks };
  }
  if (options.rank !== undefined) return { rank: options.rank, blocks };
  const r = ratio as number;
  if (options.rankRule === 'reference') {
    if (kind === 'monarch') throw new UsageError('--rank-rule reference applies to BLAST and low-rank ranks');
    return { rank: referenceRank(m, n, r), blocks };
  }
  return { rank: rankForRatio(kind, m, n, r, blocks ?? 1).rank, blocks };
}

/** The human-readable summary. */
export function formatFactorize(r: FactorizeCommandResult): string {
  const rows: [string, string][] = [
    ['method', `${r.method} (${r.kind})`],
    ['matrix', `${r.shape[0]}×${r.shape[1]} from ${r.input}`],
    ['rank / blocks', `${r.rank ?? '-'} / ${r.blocks ?? '-'}`],
    ['parameters', `${r.parameters} of ${r.denseParameters} (${(100 * r.compressionRatio).toFixed(1)}%)`],
    ['relative error', r.relativeError.toPrecision(4)],
    ...(r.outputError === undefined
      ? []
      : ([['output error', r.outputError.toPrecision(4)]] as [string, string][])),
    ['steps', String(r.steps ?? '-')],
    ['seconds', r.seconds.toFixed(2)],
    ['backend / seed', `${r.backend} / ${r.seed}`],
    ['written', r.out],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}
