import { defineBackend } from '@blastkit/core';
import type { Runtime } from '../runtime.js';
import { binary, layerNorm, rmsNorm, scale, softmax, unary } from './elementwise.js';
import { choleskySolve, eigh, truncatedSvd } from './factorization.js';
import { concat, slice, transpose } from './layout.js';
import {
  blastForward,
  blockDiagonalForward,
  linear,
  lowRankForward,
  matmul,
  monarchForward,
} from './products.js';
import { argmax, reduce } from './reduce.js';
import { attention, embedding, rope } from './transformer.js';

/** The native backend as data: every operation of the Backend interface on the addon, by name. */
export const NATIVE_BACKEND = defineBackend<Runtime>({
  name: 'native',
  describe: (rt) => ({ name: 'native', device: 'cpu', engine: rt.engine, software: false }),
  kernels: {
    matmul,
    linear,
    // the default path: fused decode for N ≤ 8 (NativeBackend.blastForwardPath picks one explicitly)
    blastForward: (rt, x, B, C, D, options) => blastForward(rt, x, B, C, D, options),
    lowRankForward,
    monarchForward,
    blockDiagonalForward,
    add: (rt, a, b) => binary(rt, 'add', a, b),
    sub: (rt, a, b) => binary(rt, 'sub', a, b),
    mul: (rt, a, b) => binary(rt, 'mul', a, b),
    scale,
    unary,
    softmax,
    rmsNorm,
    layerNorm,
    rope,
    embedding,
    attention,
    transpose,
    slice,
    concat,
    reduce,
    argmax,
    choleskySolve,
    eigh,
    truncatedSvd,
  },
});
