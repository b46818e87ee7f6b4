import { formatShape, InvalidArgumentError } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { kernel } from './kernel.js';

/** numpy.transpose(x, perm). */
export const transpose = kernel<{ perm: readonly number[] }>({
  name: 'transpose',
  shapes: ([x], { perm }) => {
    const sorted = [...perm].sort((a, b) => a - b);
    if (perm.length !== x.length || sorted.some((p, i) => p !== i)) {
      throw new InvalidArgumentError(
        `transpose: perm [${perm.join(',')}] is not a permutation of the ${x.length} axes of ${formatShape(x)}`,
      );
    }
    return [perm.map((p) => x[p])];
  },
  run: ([x], { perm }) => [tf.transpose(x, [...perm])],
});
