import { Tensor } from '@blastkit/core';
import type { DecoderLm } from '../decoder-lm.js';

/**
 * Runs calibration token sequences through the (dense) model and gathers, for each requested module, the rows
 * its linear saw as input: [total tokens, in]. All modules see the dense model's activations (not those of
 * already-compressed earlier layers): simple and order-free; each sequence runs in one forward pass, so it
 * must fit the model's context.
 */
export async function collectLinearInputs<Cache extends { readonly length: number }>(
  model: DecoderLm<Cache>,
  sequences: readonly (readonly number[])[],
  modules: readonly string[],
): Promise<Map<string, Tensor>> {
  const wanted = new Set(modules);
  const rows = new Map<string, Float32Array[]>();
  const be = model.backend;
  for (const ids of sequences) {
    if (ids.length > model.config.maxPositionEmbeddings)
      throw new RangeError(
        `a calibration sequence of ${ids.length} tokens exceeds the context ${model.config.maxPositionEmbeddings}`,
      );
    const pending: Promise<void>[] = [];
    const cache = model.newCache();
    const out = model.forward(Int32Array.from(ids), cache, {
      lastOnly: true,
      observe: (module, input) => {
        if (!wanted.has(module)) {
          be.dispose(input);
          return;
        }
        pending.push(
          be.download(input).then((t) => {
            be.dispose(input);
            const list = rows.get(module) ?? [];
            list.push(t.data);
            rows.set(module, list);
          }),
        );
      },
    });
    await Promise.all(pending);
    be.dispose(out);
    model.disposeCache(cache);
  }
  const result = new Map<string, Tensor>();
  for (const module of modules) {
    const parts = rows.get(module);
    if (!parts) throw new RangeError(`no activations reached '${module}' (not a linear of this model?)`);
    const width = model.linearShape(module)[1];
    const total = parts.reduce((a, p) => a + p.length, 0);
    const data = new Float32Array(total);
    let offset = 0;
    for (const p of parts) {
      data.set(p, offset);
      offset += p.length;
    }
    result.set(module, new Tensor([total / width, width], data));
  }
  return result;
}
