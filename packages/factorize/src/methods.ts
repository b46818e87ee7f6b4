import {
  type Backend,
  InvalidArgumentError,
  type StructuredMatrix,
  type StructureKind,
  type Tensor,
} from '@blastkit/core';
import { monarchDataAware } from './baselines/monarch-data.js';
import { blockDiagonalFactorize, lowRankFactorize, monarchFactorize } from './baselines/projections.js';
import { blastDataAware } from './blast/data-aware.js';
import { blastFast } from './blast/fast.js';
import { blastPrecGd } from './blast/precgd.js';
import type { RunOptions } from './progress.js';

/** What a factorizer is given beyond the matrix; each method reads what its `takes` says. */
export interface FactorizeRequest extends RunOptions {
  /** BLAST / low-rank rank r; Monarch's per-block rank r′. */
  rank?: number;
  numBlocks?: number;
  seed?: number;
  /** Solver steps, where the method iterates (default: the solver's own). */
  steps?: number;
  /** Where the solver's products run (default: the CPU reference). */
  backend?: Backend;
  /** Calibration inputs [N, n]: the layer's inputs, one per row (data-aware methods). */
  inputs?: Tensor;
}

/** A factorizer's answer: the factors, and the errors and steps the solver measured on the way. */
export interface Factorized {
  matrix: StructuredMatrix;
  /** ‖A − Â‖/‖A‖ when the solver computed it (otherwise the caller measures it). */
  relativeError?: number;
  /** Data-aware methods: ‖(A − Â)Xᵀ‖/‖AXᵀ‖ on the calibration inputs. */
  outputError?: number;
  steps?: number;
}

/** A factorization method as data: the CLI's `--method`, the budget rules and the solver look it up by name. */
export interface FactorizerMethod {
  /** As `--method` takes it and as factors files record it (`method` in their metadata). */
  readonly name: string;
  /** One line for help texts. */
  readonly description: string;
  /** The structure it produces, in core's vocabulary: the budget rules (rankForRatio) go by it. */
  readonly kind: Exclude<StructureKind, 'dense'>;
  /** What it needs: a rank, a block count, calibration inputs. */
  readonly takes: { readonly rank: boolean; readonly blocks: boolean; readonly inputs: boolean };
  /** Factorizes A [m, n]; rank, numBlocks and inputs are there when `takes` says so. */
  solve(A: Tensor, request: FactorizeRequest): Promise<Factorized>;
}

const need = <T>(value: T | undefined, method: string, what: string): T => {
  if (value === undefined) throw new InvalidArgumentError(`factorize ${method}: ${what} is missing`);
  return value;
};

// the BLAST solvers' shared settings: a request's optional fields are passed on only when set
function blastSettings(method: string, r: FactorizeRequest) {
  return {
    numBlocks: need(r.numBlocks, method, 'numBlocks'),
    rank: need(r.rank, method, 'rank'),
    seed: r.seed ?? 0,
    backend: r.backend,
    onProgress: r.onProgress,
    signal: r.signal,
    ...(r.steps === undefined ? {} : { steps: r.steps }),
  };
}

/** Every factorization method, in the order help texts list them. */
export const FACTORIZERS = [
  {
    name: 'blast-precgd',
    description:
      "BLAST by the reference's preconditioned gradient descent (faithful to method.md §2, slower)",
    kind: 'blast',
    takes: { rank: true, blocks: true, inputs: false },
    solve: async (A, r) => blastPrecGd(A, { ...blastSettings('blast-precgd', r), recordEvery: 0 }),
  },
  {
    name: 'blast',
    description: 'BLAST by the fast solver (preconditioned steps from a truncated-SVD start, early stopping)',
    kind: 'blast',
    takes: { rank: true, blocks: true, inputs: false },
    solve: async (A, r) => blastFast(A, blastSettings('blast', r)),
  },
  {
    name: 'blast-data',
    description:
      "data-aware BLAST: minimises ‖(A − Â)Xᵀ‖ on calibration inputs X, the error the layer's outputs see",
    kind: 'blast',
    takes: { rank: true, blocks: true, inputs: true },
    solve: async (A, r) =>
      blastDataAware(A, {
        ...blastSettings('blast-data', r),
        inputs: need(r.inputs, 'blast-data', 'inputs'),
      }),
  },
  {
    name: 'lowrank',
    description: 'low-rank U·Vᵀ by truncated SVD (the best rank-r approximation)',
    kind: 'low-rank',
    takes: { rank: true, blocks: false, inputs: false },
    solve: async (A, r) => ({
      matrix: await lowRankFactorize(A, need(r.rank, 'lowrank', 'rank'), r.backend),
    }),
  },
  {
    name: 'monarch',
    description: 'Monarch (block low-rank): each block of A projected by a truncated SVD',
    kind: 'monarch',
    takes: { rank: true, blocks: true, inputs: false },
    solve: async (A, r) => ({
      matrix: monarchFactorize(A, need(r.numBlocks, 'monarch', 'numBlocks'), need(r.rank, 'monarch', 'rank')),
    }),
  },
  {
    name: 'monarch-data',
    description:
      'data-aware Monarch: minimises ‖(A − Â)Xᵀ‖ on calibration inputs X (block-whitened start, exact alternating steps)',
    kind: 'monarch',
    takes: { rank: true, blocks: true, inputs: true },
    solve: async (A, r) => {
      const out = monarchDataAware(A, {
        numBlocks: need(r.numBlocks, 'monarch-data', 'numBlocks'),
        rank: need(r.rank, 'monarch-data', 'rank'),
        inputs: need(r.inputs, 'monarch-data', 'inputs'),
        signal: r.signal,
        ...(r.steps === undefined ? {} : { steps: r.steps }),
      });
      return { matrix: out.matrix, outputError: out.outputError, steps: out.objective.length - 1 };
    },
  },
  {
    name: 'block-diag',
    description: 'block-diagonal: the diagonal blocks of A (the best block-diagonal approximation)',
    kind: 'block-diagonal',
    takes: { rank: false, blocks: true, inputs: false },
    solve: async (A, r) => ({
      matrix: blockDiagonalFactorize(A, need(r.numBlocks, 'block-diag', 'numBlocks')),
    }),
  },
] as const satisfies readonly FactorizerMethod[];

/** A method's name, as `--method` takes it. */
export type FactorizerName = (typeof FACTORIZERS)[number]['name'];

/** The method names, in registry order. */
export const FACTORIZER_NAMES: readonly FactorizerName[] = FACTORIZERS.map((m) => m.name);

/** The method of that name, or undefined. */
export function findFactorizer(name: string): FactorizerMethod | undefined {
  return FACTORIZERS.find((m) => m.name === name);
}
