import { Rng, Tensor } from '@blastkit/core';
import { unbiasedStd } from '../validate.js';

/** The reference works on A/std(A) (unbiased std, one scalar) and multiplies s by it at the end. */
export function normalizeTarget(A: Tensor): { sigma: number; normalized: Tensor; normA2: number } {
  const sigma = unbiasedStd(A.data) || 1;
  const normalized = new Tensor(
    A.shape,
    A.data.map((v) => v / sigma),
  );
  let normA2 = 0;
  for (const v of normalized.data) normA2 += v * v;
  return { sigma, normalized, normA2 };
}

/** The reference's initialisation, drawn in the order B, C, D: U, V ~ N(0,1)/√r·1e-3, s ~ N(0,1). */
export function referenceInit(m: number, n: number, b: number, r: number, seed: number) {
  const rng = new Rng(seed);
  const B = new Tensor([b, m / b, r]);
  const C = new Tensor([b, r, n / b]);
  const D = new Tensor([b, b, r]);
  rng.fillNormal(B.data, 1e-3 / Math.sqrt(r));
  rng.fillNormal(C.data, 1e-3 / Math.sqrt(r));
  rng.fillNormal(D.data, 1);
  return { B, C, D };
}
