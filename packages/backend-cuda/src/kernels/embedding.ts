import { type BackendTensor, formatShape, ShapeError } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';

/** Rows of table [V, d] for the ids, checked on the host (here and again in the addon) before the gather. */
export function embedding(rt: Runtime, tableIn: BackendTensor, ids: Int32Array): CudaTensor {
  const table = rt.tensor(tableIn, 'embedding table');
  if (table.shape.length !== 2)
    throw new ShapeError(`embedding: table has shape ${formatShape(table.shape)}, expected [V,d]`);
  const [V, d] = table.shape;
  ids.forEach((id, t) => {
    if (id < 0 || id >= V)
      throw new RangeError(`embedding: id ${id} at position ${t} is outside the vocabulary [0, ${V})`);
  });
  const out = rt.alloc([ids.length, d], 'embedding output');
  rt.native.embedding(rt.ctx, out.id, table.id, V, d, ids);
  return out;
}
