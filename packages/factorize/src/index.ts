/**
 * @blastkit/factorize — dense matrices into BLAST, low-rank, block-diagonal and Monarch factors.
 */

export { relativeFrobeniusError } from '@blastkit/core';
export {
  type MonarchDataFactorization,
  type MonarchDataOptions,
  monarchDataAware,
} from './baselines/monarch-data.js';
export { blockDiagonalFactorize, lowRankFactorize, monarchFactorize } from './baselines/projections.js';
export { type RomResult, romFactorize } from './baselines/rom.js';
export { type SvdLlmResult, svdLlmFactorize } from './baselines/svd-llm.js';
export {
  blastDataAware,
  type DataAwareFactorization,
  type DataAwareOptions,
  outputErrorOf,
} from './blast/data-aware.js';
export { BLAST_FAST_DEFAULTS, type BlastFastOptions, blastFast } from './blast/fast.js';
export {
  type BlastFactorization,
  type BlastSolverOptions,
  blastPrecGd,
  type PrecGdOptions,
} from './blast/precgd.js';
export { finishFactors } from './blast/renormalize.js';
export {
  type AllocationOptions,
  type AllocationPlan,
  allocateRanks,
  formatPlan,
  interpolatedCurve,
  type LayerPlan,
  type LayerSpec,
  tailEnergyCurve,
} from './budget/allocate.js';
export { type BudgetMethod, type RankChoice, rankForRatio, referenceRank } from './budget/ranks.js';
export {
  FACTORIZER_NAMES,
  FACTORIZERS,
  type Factorized,
  type FactorizeRequest,
  type FactorizerMethod,
  type FactorizerName,
  findFactorizer,
} from './methods.js';
export type { FactorizeProgress, RunOptions } from './progress.js';
export {
  type CheckpointEntry,
  type CheckpointStore,
  type FactorizeManyOptions,
  factorizeMany,
  type ManyTarget,
  MemoryCheckpointStore,
  type SolvedMatrix,
} from './run/factorize-many.js';
export { unbiasedStd, validateBlastShape, validateTarget } from './validate.js';
