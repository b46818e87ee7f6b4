import { formatShape, ShapeError } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { kernel } from './kernel.js';
import { matMul } from './mat-mul.js';
import { expectRows } from './structured-shapes.js';

/** Block-diagonal A: one batched matMul of the x blocks [b, N, q] with the blocks [b, p, q]ᵀ. */
export const blockDiagonalForward = kernel({
  name: 'blockDiagonalForward',
  shapes: ([x, blocks]) => {
    if (blocks.length !== 3) {
      throw new ShapeError(
        `blockDiagonalForward: blocks has shape ${formatShape(blocks)}, expected [b,m/b,n/b]`,
      );
    }
    const [b, p, q] = blocks;
    const N = expectRows('blockDiagonalForward', x, b * q);
    return [[N, b * p]];
  },
  run: ([x, blocks]) => {
    const [b, p, q] = blocks.shape;
    const N = x.shape[0];
    const xb = tf.transpose(tf.reshape(x, [N, b, q]), [1, 0, 2]);
    const yb = matMul(xb, blocks, false, true);
    return [tf.reshape(tf.transpose(yb, [1, 0, 2]), [N, b * p])];
  },
});
