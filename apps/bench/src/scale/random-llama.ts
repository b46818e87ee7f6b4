import { Rng, Tensor } from '@blastkit/core';
import { type LlamaConfig, llamaWeightShapes, type TensorSource } from '@blastkit/models';

/**
 * A Llama weight source that makes each tensor when it is read (seeded: norms 1, the rest N(0, 0.02²)), one
 * in memory at a time: for measurements where the values do not matter (speed, peak memory) and for machines
 * the real weights cannot reach.
 */
export function randomLlamaSource(config: LlamaConfig, seed = 1): TensorSource {
  const shapes = llamaWeightShapes(config);
  const rng = new Rng(seed);
  return {
    names: () => [...shapes.keys()],
    shapeOf: (name) => shapes.get(name) as number[],
    readTensor: async (name) => {
      const t = new Tensor(shapes.get(name) as number[]);
      if (name.includes('norm')) t.data.fill(1);
      else rng.fillNormal(t.data, 0.02);
      return t;
    },
    close: async () => {},
  };
}
