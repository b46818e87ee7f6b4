import { expectShape, formatShape, ShapeError } from '../errors.js';

/**
 * Shape rules of the structured forwards and slice, shared by the backends (like `matmulDims`), so every
 * backend accepts the same inputs and rejects the others with the same message.
 */

/** The sizes of one BLAST call: b blocks of p×q, rank r, A [m = b·p, n = b·q]; `transpose` applies Aᵀ. */
export interface BlastDims {
  b: number;
  p: number;
  q: number;
  r: number;
  m: number;
  n: number;
  /** Rows of x. */
  N: number;
  transpose: boolean;
  /** Width of one input block (q, or p for Aᵀ) and of one output block (p, or q). */
  inBlock: number;
  outBlock: number;
  /** Widths of x and y: n and m, or m and n for Aᵀ. */
  nIn: number;
  nOut: number;
}

/** Checks B [b,p,r], C [b,r,q], D [b,b,r] and x [N, n] (or [N, m] for Aᵀ); returns the sizes. */
export function blastDims(
  x: readonly number[],
  B: readonly number[],
  C: readonly number[],
  D: readonly number[],
  transpose = false,
): BlastDims {
  if (B.length !== 3) throw new ShapeError(`BLAST: B has shape ${formatShape(B)}, expected [b,m/b,r]`);
  const [b, p, r] = B;
  expectShape('BLAST: C', C, [b, r, -1]);
  expectShape('BLAST: D', D, [b, b, r]);
  const q = C[2];
  const m = b * p;
  const n = b * q;
  const nIn = transpose ? m : n;
  if (x.length !== 2 || x[1] !== nIn) {
    throw new ShapeError(
      `blastForward${transpose ? ' (transposed)' : ''}: x has shape ${formatShape(x)}, expected [N,${nIn}]`,
    );
  }
  return {
    b,
    p,
    q,
    r,
    m,
    n,
    N: x[0],
    transpose,
    inBlock: transpose ? p : q,
    outBlock: transpose ? q : p,
    nIn,
    nOut: transpose ? n : m,
  };
}

/** Checks U [m, r], V [n, r] and x [N, n] of a low-rank forward y = x·V·Uᵀ; returns the sizes. */
export function lowRankDims(
  x: readonly number[],
  U: readonly number[],
  V: readonly number[],
): { m: number; n: number; r: number; N: number } {
  if (U.length !== 2) throw new ShapeError(`lowRankForward: U has shape ${formatShape(U)}, expected [m,r]`);
  const [m, r] = U;
  expectShape('lowRankForward: V', V, [-1, r]);
  const n = V[0];
  if (x.length !== 2 || x[1] !== n) {
    throw new ShapeError(`lowRankForward: x has shape ${formatShape(x)}, expected [N,${n}]`);
  }
  return { m, n, r, N: x[0] };
}

/** The output shape of slice(x, begin, size) (a size of -1 runs to the end of its axis), checked. */
export function sliceShape(
  shape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
): number[] {
  const rank = shape.length;
  if (begin.length !== rank || size.length !== rank) {
    throw new ShapeError(`slice: begin/size need ${rank} entries for shape ${formatShape(shape)}`);
  }
  const out = size.map((s, d) => (s === -1 ? shape[d] - begin[d] : s));
  out.forEach((s, d) => {
    if (!Number.isInteger(begin[d]) || begin[d] < 0 || s < 0 || begin[d] + s > shape[d]) {
      throw new ShapeError(
        `slice: [${begin[d]}, ${begin[d] + s}) is outside axis ${d} of ${formatShape(shape)}`,
      );
    }
  });
  return out;
}
