import { CpuBackend, InvalidArgumentError } from '@blastkit/core';
import {
  type AllocationPlan,
  allocateRanks,
  type LayerSpec,
  rankForRatio,
  tailEnergyCurve,
} from '@blastkit/factorize';
import type { TensorSource } from '../tensor-source.js';
import type { CompressMethod } from './compress.js';

export interface PlanOptions {
  method: CompressMethod;
  /** Kept fraction of the selected linears' parameters (per module, or over all of them with `allocate`). */
  ratio: number;
  blocks?: number;
  /**
   * Spread the budget over modules to minimise the summed relative error instead of giving each the same
   * ratio. The per-module error curves are the exact low-rank tail energies from each weight's singular
   * values — for BLAST a proxy (BLAST at rank r is at least as good as low-rank r), cheap enough for a dry run.
   */
  allocate?: boolean;
  /** Ranks move in steps of this size when allocating (default 16, as the reference rounds; at least 1). */
  granularity?: number;
}

/**
 * The dry-run report of a compression: per module its shape, rank, parameters and FLOPs per token before and
 * after (and with `allocate`, the predicted error). Its JSON is also the `--budget` file `compress` accepts.
 */
export async function planCompression(
  source: TensorSource,
  modules: readonly string[],
  options: PlanOptions,
): Promise<AllocationPlan> {
  const method = options.method === 'blast-data' ? 'blast' : options.method;
  if (method === 'block-diag')
    throw new InvalidArgumentError('a rank plan needs a rank: block-diag has only a block count');
  const lowRankForm = method === 'lowrank' || method === 'rom' || method === 'svd-llm';
  const b = lowRankForm ? 1 : (options.blocks ?? 16);
  // ROM and SVD-LLM are low-rank forms (ROM's bias is a rounding error in a plan)
  const budgetMethod = lowRankForm ? 'low-rank' : method;
  const layers: LayerSpec[] = [];
  const be = new CpuBackend();
  for (const name of modules) {
    const [m, n] = source.shapeOf(`${name}.weight`) as [number, number];
    let errorAtRank: (rank: number) => number = () => 0;
    if (options.allocate) {
      const h = be.upload(await source.readTensor(`${name}.weight`));
      const svd = be.truncatedSvd(h, Math.min(m, n));
      errorAtRank = tailEnergyCurve((await be.download(svd.S)).data);
      for (const t of [h, svd.U, svd.S, svd.V]) be.dispose(t);
    }
    layers.push({ name, m, n, errorAtRank });
  }
  if (options.allocate)
    return allocateRanks(layers, {
      method: budgetMethod,
      ratio: options.ratio,
      numBlocks: b,
      granularity: options.granularity ?? 16,
    });
  // uniform: every module at the same ratio, each with the largest rank that fits
  const uniform = layers.map((l) => {
    const choice = rankForRatio(budgetMethod, l.m, l.n, options.ratio, b);
    return {
      name: l.name,
      shape: [l.m, l.n] as [number, number],
      rank: choice.rank,
      denseParameters: l.m * l.n,
      parameters: choice.parameters,
      // one multiply-add per stored parameter per token, for every one of these forms
      denseFlopsPerToken: 2 * l.m * l.n,
      flopsPerToken: 2 * choice.parameters,
      predictedRelativeError: Number.NaN,
    };
  });
  const sum = (f: (x: (typeof uniform)[number]) => number) => uniform.reduce((a, x) => a + f(x), 0);
  return {
    method: budgetMethod,
    numBlocks: b,
    ratio: options.ratio,
    layers: uniform,
    totals: {
      denseParameters: sum((x) => x.denseParameters),
      parameters: sum((x) => x.parameters),
      denseFlopsPerToken: sum((x) => x.denseFlopsPerToken),
      flopsPerToken: sum((x) => x.flopsPerToken),
      ratio: sum((x) => x.parameters) / sum((x) => x.denseParameters),
    },
  };
}
