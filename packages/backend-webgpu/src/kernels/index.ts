import { defineBackend, isSoftwareAdapter } from '@blastkit/core';
import type { Runtime } from '../runtime.js';
import { argmax } from './argmax.js';
import { attention } from './attention.js';
import { binary } from './binary.js';
import { blastForward } from './blast-forward.js';
import { blockDiagonalForward } from './block-diagonal-forward.js';
import { choleskySolve } from './cholesky-solve.js';
import { concat } from './concat.js';
import { eigh } from './eigh.js';
import { embedding } from './embedding.js';
import { layerNorm } from './layer-norm.js';
import { linear } from './linear.js';
import { lowRankForward } from './low-rank-forward.js';
import { matmul } from './matmul.js';
import { monarchForward } from './monarch-forward.js';
import { reduce } from './reduce.js';
import { rmsNorm } from './rms-norm.js';
import { rope } from './rope.js';
import { scale } from './scale.js';
import { slice } from './slice.js';
import { softmax } from './softmax.js';
import { transpose } from './transpose.js';
import { truncatedSvd } from './truncated-svd.js';
import { unary } from './unary.js';

/** The WebGPU backend as data: every operation of the Backend interface, one kernel per file, by name. */
export const WEBGPU_BACKEND = defineBackend<Runtime>({
  name: 'webgpu',
  describe: (rt) => ({
    name: 'webgpu',
    device: 'gpu',
    engine: rt.adapter,
    software: isSoftwareAdapter(rt.adapter),
  }),
  kernels: {
    matmul,
    linear,
    blastForward,
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
