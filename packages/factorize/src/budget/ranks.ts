import { InvalidArgumentError, type StructureKind } from '@blastkit/core';

/** The structures a parameter budget applies to, in core's vocabulary (StructureKind). */
export type BudgetMethod = Exclude<StructureKind, 'dense'>;

export interface RankChoice {
  method: BudgetMethod;
  /** BLAST / low-rank rank r, Monarch per-block rank r′; for block-diagonal, the block count. */
  rank: number;
  numBlocks: number;
  parameters: number;
  /** parameters / (m·n). */
  ratio: number;
}

/**
 * The largest rank whose parameter count fits `ratio·m·n` for one matrix: r(m+n+b²) for BLAST, r(m+n) for
 * low-rank, b·r′(m+n) for Monarch; for block-diagonal (mn/b parameters) the fewest blocks that fit.
 * Throws when not even rank 1 (or the largest usable block count) fits.
 */
export function rankForRatio(
  method: BudgetMethod,
  m: number,
  n: number,
  ratio: number,
  numBlocks = 1,
): RankChoice {
  if (!(ratio > 0 && ratio <= 1))
    throw new InvalidArgumentError(`budget: ratio must be in (0, 1], got ${ratio}`);
  const budget = ratio * m * n;
  const b = numBlocks;
  const fail = (why: string): never => {
    throw new InvalidArgumentError(
      `budget: ${method} cannot fit ${ratio} of a ${m}×${n} matrix (${Math.floor(budget)} parameters): ${why}`,
    );
  };
  const choice = (rank: number, parameters: number, blocks: number): RankChoice => ({
    method,
    rank,
    numBlocks: blocks,
    parameters,
    ratio: parameters / (m * n),
  });
  switch (method) {
    case 'low-rank': {
      const r = Math.min(Math.floor(budget / (m + n)), Math.min(m, n));
      if (r < 1) fail(`rank 1 alone needs ${m + n}`);
      return choice(r, r * (m + n), 1);
    }
    case 'blast': {
      const r = Math.floor(budget / (m + n + b * b));
      if (r < 1) fail(`rank 1 with ${b} blocks alone needs ${m + n + b * b}`);
      return choice(r, r * (m + n + b * b), b);
    }
    case 'monarch': {
      const rp = Math.min(Math.floor(budget / (b * (m + n))), Math.min(m / b, n / b));
      if (rp < 1) fail(`block rank 1 with ${b} blocks alone needs ${b * (m + n)}`);
      return choice(rp, b * rp * (m + n), b);
    }
    case 'block-diagonal': {
      for (let blocks = 1; blocks <= Math.min(m, n); blocks++) {
        if (m % blocks === 0 && n % blocks === 0 && (m * n) / blocks <= budget)
          return choice(blocks, (m * n) / blocks, blocks);
      }
      return fail('no block count that divides both sides is small enough');
    }
    default:
      return fail('unknown method');
  }
}

/**
 * The reference's rank rule (method.md §3): r = ⌊β·mn/(m+n)⌋ rounded down to a multiple of `multiple`
 * (1024 for 4096², 1488 for 11008×4096 at β = 0.5).
 */
export function referenceRank(m: number, n: number, beta = 0.5, multiple = 16): number {
  const r = Math.floor(Math.floor((beta * m * n) / (m + n)) / multiple) * multiple;
  if (r < multiple)
    throw new InvalidArgumentError(
      `reference rank rule: β=${beta} gives no multiple of ${multiple} for ${m}×${n}`,
    );
  return r;
}
