import { InvalidArgumentError } from '@blastkit/core';
import type { BudgetMethod } from './ranks.js';

export interface LayerSpec {
  name: string;
  /** Output and input sizes of the weight W [m, n]. */
  m: number;
  n: number;
  /**
   * Squared Frobenius error of the layer at a given rank (any monotone curve: exact tail energies from
   * singular values, or errors measured by short solver runs and interpolated).
   */
  errorAtRank: (rank: number) => number;
}

export interface AllocationOptions {
  method: Exclude<BudgetMethod, 'block-diagonal'>;
  /** Kept fraction of the parameters of all the given layers together. */
  ratio: number;
  /** BLAST / Monarch block count (1 for low-rank). */
  numBlocks?: number;
  /** Ranks move in steps of this size (default 16, as the reference rounds). */
  granularity?: number;
  /** Smallest rank any layer may get (default one granule). */
  minRank?: number;
}

export interface LayerPlan {
  name: string;
  shape: [number, number];
  rank: number;
  denseParameters: number;
  parameters: number;
  /** FLOPs per token (2 per multiply-add), dense and after. */
  denseFlopsPerToken: number;
  flopsPerToken: number;
  /** Predicted relative error √(error(rank)/error(0)) from the layer's curve. */
  predictedRelativeError: number;
}

export interface AllocationPlan {
  method: AllocationOptions['method'];
  numBlocks: number;
  ratio: number;
  layers: LayerPlan[];
  totals: {
    denseParameters: number;
    parameters: number;
    denseFlopsPerToken: number;
    flopsPerToken: number;
    ratio: number;
  };
}

function paramsAt(
  method: AllocationOptions['method'],
  m: number,
  n: number,
  rank: number,
  b: number,
): number {
  if (method === 'blast') return rank * (m + n + b * b);
  if (method === 'monarch') return b * rank * (m + n);
  return rank * (m + n);
}

/**
 * Splits a global parameter budget over layers to minimise the summed *relative* squared error (each curve
 * divided by its error at rank 0, so a layer's scale does not buy it rank): every layer starts at
 * the smallest rank, then the rank step with the largest error reduction per added parameter is taken
 * until the next one would break the budget (optimal for convex error curves). The plan doubles as the
 * dry-run report: parameters and FLOPs per layer before and after.
 */
export function allocateRanks(layers: readonly LayerSpec[], options: AllocationOptions): AllocationPlan {
  const b = options.numBlocks ?? 1;
  const step = options.granularity ?? 16;
  const minRank = options.minRank ?? step;
  if (!(options.ratio > 0 && options.ratio <= 1))
    throw new InvalidArgumentError(`allocateRanks: ratio must be in (0, 1], got ${options.ratio}`);
  if (layers.length === 0) throw new InvalidArgumentError('allocateRanks: no layers given');
  const maxRank = (l: LayerSpec) =>
    options.method === 'monarch' ? Math.min(l.m, l.n) / b : Math.min(l.m, l.n);
  const dense = layers.reduce((s, l) => s + l.m * l.n, 0);
  const budget = options.ratio * dense;
  const ranks = layers.map((l) => Math.min(minRank, maxRank(l)));
  let used = layers.reduce((s, l, i) => s + paramsAt(options.method, l.m, l.n, ranks[i], b), 0);
  if (used > budget) {
    throw new InvalidArgumentError(
      `allocateRanks: the budget (${Math.floor(budget)} parameters, ${options.ratio} of ${dense}) cannot hold rank ${minRank} in every layer (${used} parameters)`,
    );
  }
  const scaleOf = layers.map((l) => l.errorAtRank(0) || 1);
  const relErr = (i: number, rank: number) => layers[i].errorAtRank(rank) / scaleOf[i];
  const errors = layers.map((_, i) => relErr(i, ranks[i]));
  for (;;) {
    let best = -1;
    let bestGain = 0;
    let bestNext = 0;
    let bestCost = 0;
    layers.forEach((l, i) => {
      const next = Math.min(ranks[i] + step, maxRank(l));
      if (next === ranks[i]) return;
      const cost =
        paramsAt(options.method, l.m, l.n, next, b) - paramsAt(options.method, l.m, l.n, ranks[i], b);
      if (used + cost > budget) return;
      const gain = (errors[i] - relErr(i, next)) / cost;
      if (best < 0 || gain > bestGain) {
        best = i;
        bestGain = gain;
        bestNext = next;
        bestCost = cost;
      }
    });
    if (best < 0) break;
    ranks[best] = bestNext;
    errors[best] = relErr(best, bestNext);
    used += bestCost;
  }
  const plans: LayerPlan[] = layers.map((l, i) => {
    const parameters = paramsAt(options.method, l.m, l.n, ranks[i], b);
    return {
      name: l.name,
      shape: [l.m, l.n],
      rank: ranks[i],
      denseParameters: l.m * l.n,
      parameters,
      denseFlopsPerToken: 2 * l.m * l.n,
      flopsPerToken: 2 * parameters,
      predictedRelativeError: Math.sqrt(Math.max(errors[i], 0)),
    };
  });
  const sum = (f: (p: LayerPlan) => number) => plans.reduce((s, p) => s + f(p), 0);
  return {
    method: options.method,
    numBlocks: b,
    ratio: options.ratio,
    layers: plans,
    totals: {
      denseParameters: dense,
      parameters: sum((p) => p.parameters),
      denseFlopsPerToken: sum((p) => p.denseFlopsPerToken),
      flopsPerToken: sum((p) => p.flopsPerToken),
      ratio: sum((p) => p.parameters) / dense,
    },
  };
}

/** The exact low-rank error curve of a matrix from its singular values: error(r) = Σ_{k ≥ r} σ_k². */
export function tailEnergyCurve(singularValues: ArrayLike<number>): (rank: number) => number {
  const tail = new Float64Array(singularValues.length + 1);
  for (let k = singularValues.length - 1; k >= 0; k--) tail[k] = tail[k + 1] + singularValues[k] ** 2;
  return (rank) => tail[Math.min(Math.max(rank, 0), singularValues.length)];
}

/** A curve through measured (rank, squared error) points, linear in between and flat past the ends. */
export function interpolatedCurve(points: readonly [number, number][]): (rank: number) => number {
  const sorted = [...points].sort((a, b) => a[0] - b[0]);
  if (sorted.length === 0) throw new InvalidArgumentError('interpolatedCurve: no points');
  return (rank) => {
    if (rank <= sorted[0][0]) return sorted[0][1];
    for (let i = 1; i < sorted.length; i++) {
      const [r1, e1] = sorted[i];
      if (rank <= r1) {
        const [r0, e0] = sorted[i - 1];
        return e0 + ((e1 - e0) * (rank - r0)) / (r1 - r0);
      }
    }
    return sorted[sorted.length - 1][1];
  };
}

/** The plan as a fixed-width table for terminals. */
export function formatPlan(plan: AllocationPlan): string {
  const rows = plan.layers.map(
    (l) =>
      `${l.name.padEnd(40)} ${`${l.shape[0]}×${l.shape[1]}`.padStart(11)} ${String(l.rank).padStart(6)} ${String(l.denseParameters).padStart(10)} ${String(l.parameters).padStart(10)} ${l.predictedRelativeError.toFixed(4).padStart(8)}`,
  );
  const t = plan.totals;
  return [
    `${'layer'.padEnd(40)} ${'shape'.padStart(11)} ${'rank'.padStart(6)} ${'dense'.padStart(10)} ${'after'.padStart(10)} ${'error'.padStart(8)}`,
    ...rows,
    `${'total'.padEnd(40)} ${''.padStart(11)} ${''.padStart(6)} ${String(t.denseParameters).padStart(10)} ${String(t.parameters).padStart(10)}   ratio ${t.ratio.toFixed(3)}, FLOPs/token ${t.flopsPerToken} (dense ${t.denseFlopsPerToken})`,
  ].join('\n');
}
