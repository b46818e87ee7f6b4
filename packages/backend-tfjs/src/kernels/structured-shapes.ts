import { expectShape, formatShape, ShapeError } from '@blastkit/core';

/** Throws unless x is [N, width]; returns N. */
export function expectRows(what: string, x: readonly number[], width: number): number {
  if (x.length !== 2 || x[1] !== width) {
    throw new ShapeError(`${what}: x has shape ${formatShape(x)}, expected [N,${width}]`);
  }
  return x[0];
}

/** Checks BLAST factors B [b,p,r], C [b,r,q], D [b,b,r] against each other (messages as the CPU reference's). */
export function blastDims(B: readonly number[], C: readonly number[], D: readonly number[]) {
  if (B.length !== 3) throw new ShapeError(`BLAST: B has shape ${formatShape(B)}, expected [b,m/b,r]`);
  const [b, p, r] = B;
  expectShape('BLAST: C', C, [b, r, -1]);
  expectShape('BLAST: D', D, [b, b, r]);
  const q = C[2];
  return { b, p, q, r, m: b * p, n: b * q };
}
