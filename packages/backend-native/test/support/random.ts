import { Rng, Tensor } from '@blastkit/core';

/** A tensor of N(0, std²) entries from a seeded generator. */
export function randomTensor(rng: Rng, shape: number[], std = 1): Tensor {
  const t = new Tensor(shape);
  rng.fillNormal(t.data, std);
  return t;
}

export { Rng };
