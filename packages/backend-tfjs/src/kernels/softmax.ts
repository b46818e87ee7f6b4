import * as tf from '@tensorflow/tfjs-core';
import { kernel } from './kernel.js';
import { lastAxis } from './row-shapes.js';

/** Softmax over the last axis (tfjs subtracts the row maximum first). */
export const softmax = kernel({
  name: 'softmax',
  shapes: ([x]) => {
    lastAxis('softmax', x);
    return [[...x]];
  },
  run: ([x]) => [tf.softmax(x)],
});
