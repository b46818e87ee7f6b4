import { formatShape, ShapeError } from '../../errors.js';
import { Tensor } from '../../tensor/tensor.js';

/** Rows of table [V, d] for ids → [ids.length, d]; an id outside [0, V) is an error naming it. */
export function embedding(table: Tensor, ids: Int32Array): Tensor {
  if (table.rank !== 2)
    throw new ShapeError(`embedding: table has shape ${formatShape(table.shape)}, expected [V,d]`);
  const [V, d] = table.shape;
  const out = new Tensor([ids.length, d]);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t];
    if (id < 0 || id >= V)
      throw new RangeError(`embedding: id ${id} at position ${t} is outside the vocabulary [0, ${V})`);
    out.data.set(table.data.subarray(id * d, (id + 1) * d), t * d);
  }
  return out;
}
