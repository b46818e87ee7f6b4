import { formatShape, ShapeError } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { kernel } from './kernel.js';

/** x[begin:begin+size] per axis; a size of -1 runs to the end of that axis. */
export const slice = kernel<{ begin: readonly number[]; size: readonly number[] }>({
  name: 'slice',
  shapes: ([x], { begin, size }) => {
    if (begin.length !== x.length || size.length !== x.length) {
      throw new ShapeError(`slice: begin/size need ${x.length} entries for shape ${formatShape(x)}`);
    }
    const out = size.map((s, d) => (s === -1 ? x[d] - begin[d] : s));
    out.forEach((s, d) => {
      if (
        !Number.isInteger(begin[d]) ||
        begin[d] < 0 ||
        !Number.isInteger(s) ||
        s < 0 ||
        begin[d] + s > x[d]
      ) {
        throw new ShapeError(
          `slice: [${begin[d]}, ${begin[d] + s}) is outside axis ${d} of ${formatShape(x)}`,
        );
      }
    });
    return [out];
  },
  run: ([x], { begin, size }) => [tf.slice(x, [...begin], [...size])],
});
