import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Makes sure tfjs-core's gradient functions are registered. tfjs-core's CommonJS bundle (what Node loads)
 * carries none: they ship as extension-less ES modules Node cannot import, and only the union package
 * `@tensorflow/tfjs` bundles and registers them. Loading it once (≈0.2 s) fixes that for the whole
 * process; with tfjs-node present it is already loaded.
 */
export function ensureGradients(): void {
  if (tf.getGradient('Sum') && tf.getGradient('BatchMatMul')) return;
  createRequire(import.meta.url)('@tensorflow/tfjs');
  if (!tf.getGradient('Sum'))
    throw new Error('@blastkit/train: loading @tensorflow/tfjs did not register tfjs gradients');
}
