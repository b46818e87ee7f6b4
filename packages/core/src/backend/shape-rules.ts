import { expectShape, formatShape, InvalidArgumentError, ShapeError } from '../errors.js';

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

/** Checks L [b, p, b·r′], R [b, b·r′, q] and x [N, b·q] of a Monarch forward; returns the sizes. */
export function monarchDims(
  x: readonly number[],
  L: readonly number[],
  R: readonly number[],
): { b: number; p: number; q: number; br: number; rp: number; m: number; n: number; N: number } {
  if (L.length !== 3) {
    throw new ShapeError(`monarchForward: L has shape ${formatShape(L)}, expected [b,m/b,b·r′]`);
  }
  const [b, p, br] = L;
  if (br % b !== 0)
    throw new ShapeError(`monarchForward: L's last axis (${br}) must be a multiple of b=${b}`);
  expectShape('monarchForward: R', R, [b, br, -1]);
  const q = R[2];
  const n = b * q;
  if (x.length !== 2 || x[1] !== n) {
    throw new ShapeError(`monarchForward: x has shape ${formatShape(x)}, expected [N,${n}]`);
  }
  return { b, p, q, br, rp: br / b, m: b * p, n, N: x[0] };
}

/** The axis (negative counts from the end) and output shape of concatenating `shapes` along `axis`, checked. */
export function concatShape(
  shapes: readonly (readonly number[])[],
  axis: number,
): { axis: number; shape: number[] } {
  if (shapes.length === 0) throw new InvalidArgumentError('concat: needs at least one tensor');
  const first = shapes[0];
  const rank = first.length;
  const ax = axis < 0 ? axis + rank : axis;
  if (ax < 0 || ax >= rank)
    throw new InvalidArgumentError(`concat: axis ${axis} out of range for rank ${rank}`);
  shapes.forEach((s, i) => {
    if (s.length !== rank || s.some((d, k) => k !== ax && d !== first[k])) {
      throw new ShapeError(
        `concat: input ${i} has shape ${formatShape(s)}, incompatible with ${formatShape(first)} along axis ${ax}`,
      );
    }
  });
  const shape = [...first];
  shape[ax] = shapes.reduce((sum, s) => sum + s[ax], 0);
  return { axis: ax, shape };
}

/** Checks x [N, heads, headDim] against the positions and the rotary width; returns the sizes. */
export function ropeDims(
  x: readonly number[],
  positions: number,
  rotaryDim: number | undefined,
): { N: number; heads: number; d: number; rd: number; half: number } {
  if (x.length !== 3) throw new ShapeError(`rope: x has shape ${formatShape(x)}, expected [N,heads,headDim]`);
  const [N, heads, d] = x;
  if (positions !== N) throw new ShapeError(`rope: ${positions} positions for ${N} rows of x`);
  const rd = rotaryDim ?? d;
  if (rd % 2 !== 0 || rd > d || rd <= 0) {
    throw new InvalidArgumentError(`rope: rotaryDim ${rd} must be even and within headDim ${d}`);
  }
  return { N, heads, d, rd, half: rd / 2 };
}

/** Checks A [batch, r, r] or [r, r] and B [batch, r, k] or [r, k] of a batched SPD solve. */
export function expectCholeskySolveShapes(A: readonly number[], B: readonly number[]): void {
  const rank = A.length;
  const r = A[rank - 1];
  if ((rank !== 2 && rank !== 3) || A[rank - 2] !== r) {
    throw new ShapeError(`choleskySolve: A has shape ${formatShape(A)}, expected [batch,r,r] or [r,r]`);
  }
  const batched = rank === 3;
  const batch = batched ? A[0] : 1;
  if (B.length !== rank || (batched && B[0] !== batch) || B[rank - 2] !== r) {
    const expected = batched ? `[${batch},${r},*]` : `[${r},*]`;
    throw new ShapeError(`choleskySolve: B has shape ${formatShape(B)}, expected ${expected}`);
  }
}

/** Checks A [m, n] and 1 ≤ k ≤ min(m, n) of a truncated SVD; returns m and n. */
export function truncatedSvdDims(A: readonly number[], k: number): { m: number; n: number } {
  if (A.length !== 2) throw new ShapeError(`truncatedSvd: A has shape ${formatShape(A)}, expected [m,n]`);
  const [m, n] = A;
  if (!Number.isInteger(k) || k < 1 || k > Math.min(m, n)) {
    throw new InvalidArgumentError(
      `truncatedSvd: k = ${k} must be an integer in [1, ${Math.min(m, n)}] for a ${m}×${n} matrix`,
    );
  }
  return { m, n };
}

/** Checks q [N, heads, d], k and v [S, kvHeads, d] (heads a multiple of kvHeads); returns the sizes. */
export function attentionDims(
  q: readonly number[],
  k: readonly number[],
  v: readonly number[],
): { N: number; hq: number; d: number; S: number; hkv: number } {
  if (q.length !== 3)
    throw new ShapeError(`attention: q has shape ${formatShape(q)}, expected [N,heads,headDim]`);
  const [N, hq, d] = q;
  if (k.length !== 3)
    throw new ShapeError(`attention: k has shape ${formatShape(k)}, expected [S,kvHeads,${d}]`);
  const [S, hkv] = k;
  expectShape('attention: k', k, [S, hkv, d]);
  expectShape('attention: v', v, [S, hkv, d]);
  if (hkv === 0 || hq % hkv !== 0) {
    throw new ShapeError(`attention: ${hq} query heads is not a multiple of ${hkv} key/value heads`);
  }
  return { N, hq, d, S, hkv };
}

/** The output shape of numpy.transpose(x, perm), checked that perm permutes x's axes. */
export function transposeShape(shape: readonly number[], perm: readonly number[]): number[] {
  const rank = shape.length;
  const sorted = [...perm].sort((a, b) => a - b);
  if (perm.length !== rank || sorted.some((p, i) => p !== i)) {
    throw new InvalidArgumentError(
      `transpose: perm [${perm.join(',')}] is not a permutation of the ${rank} axes of ${formatShape(shape)}`,
    );
  }
  return perm.map((p) => shape[p]);
}
