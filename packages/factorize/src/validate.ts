import { formatShape, InvalidArgumentError, ShapeError, type Tensor } from '@blastkit/core';

/** Checks a target matrix: 2-D, non-empty, every entry finite. Names the first bad entry. */
export function validateTarget(A: Tensor, what = 'target matrix'): [number, number] {
  if (A.rank !== 2 || A.size === 0)
    throw new ShapeError(`${what}: has shape ${formatShape(A.shape)}, expected a non-empty [m,n] matrix`);
  const n = A.shape[1];
  for (let i = 0; i < A.size; i++) {
    if (!Number.isFinite(A.data[i])) {
      throw new InvalidArgumentError(
        `${what}: entry (${Math.floor(i / n)}, ${i % n}) is ${A.data[i]}; factorization needs finite values`,
      );
    }
  }
  return [A.shape[0], A.shape[1]];
}

/** Checks that b blocks divide both sides and r is a usable rank. */
export function validateBlastShape(m: number, n: number, numBlocks: number, rank: number): void {
  if (!Number.isInteger(numBlocks) || numBlocks <= 0 || m % numBlocks !== 0 || n % numBlocks !== 0) {
    throw new InvalidArgumentError(
      `BLAST: ${numBlocks} blocks must divide both sides of the ${m}×${n} matrix`,
    );
  }
  if (!Number.isInteger(rank) || rank <= 0)
    throw new InvalidArgumentError(`BLAST: rank must be a positive integer, got ${rank}`);
}

/** Standard deviation of all entries with Bessel's correction, as torch.Tensor.std() computes it. */
export function unbiasedStd(x: Float32Array): number {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let s = 0;
  for (const v of x) s += (v - mean) ** 2;
  return Math.sqrt(s / Math.max(1, x.length - 1));
}

/** Throws the signal's reason (or an AbortError) when it has been aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw signal.reason instanceof Error
      ? signal.reason
      : new DOMException('factorization aborted', 'AbortError');
  }
}
