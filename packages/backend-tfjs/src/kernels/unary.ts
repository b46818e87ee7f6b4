import { InvalidArgumentError, UNARY_OPS, type UnaryOp } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { kernel } from './kernel.js';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

const UNARY: Record<UnaryOp, (x: tf.Tensor) => tf.Tensor> = {
  silu: (x) => tf.mul(x, tf.sigmoid(x)),
  // exact GELU through tf.erf (tfjs' erf: Abramowitz–Stegun 7.1.26, absolute error below 1.5e-7)
  gelu: (x) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)),
  gelu_tanh: (x) =>
    tf.mul(
      tf.mul(x, 0.5),
      tf.add(tf.tanh(tf.mul(tf.add(x, tf.mul(tf.mul(tf.square(x), x), 0.044715)), SQRT_2_OVER_PI)), 1),
    ),
  relu: (x) => tf.relu(x),
  sigmoid: (x) => tf.sigmoid(x),
  tanh: (x) => tf.tanh(x),
  exp: (x) => tf.exp(x),
  neg: (x) => tf.neg(x),
  sqrt: (x) => tf.sqrt(x),
  square: (x) => tf.square(x),
  abs: (x) => tf.abs(x),
};

/** One elementwise function of UNARY_OPS. */
export const unary = kernel<{ op: UnaryOp }>({
  name: 'unary',
  shapes: ([x], { op }) => {
    if (!Object.hasOwn(UNARY, op)) {
      throw new InvalidArgumentError(`unary: unknown op '${op}', expected one of ${UNARY_OPS.join(', ')}`);
    }
    return [[...x]];
  },
  run: ([x], { op }) => [UNARY[op](x)],
});
