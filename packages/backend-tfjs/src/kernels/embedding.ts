import { formatShape, ShapeError } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { kernel } from './kernel.js';

/** Rows of table [V, d] for the ids (checked on the host: tfjs' gather would clamp or zero a bad id). */
export const embedding = kernel<{ ids: Int32Array }>({
  name: 'embedding',
  shapes: ([table], { ids }) => {
    if (table.length !== 2)
      throw new ShapeError(`embedding: table has shape ${formatShape(table)}, expected [V,d]`);
    const [V, d] = table;
    ids.forEach((id, t) => {
      if (id < 0 || id >= V)
        throw new RangeError(`embedding: id ${id} at position ${t} is outside the vocabulary [0, ${V})`);
    });
    return [[ids.length, d]];
  },
  run: ([table], { ids }) => [tf.gather(table, tf.tensor1d(ids, 'int32'))],
});
