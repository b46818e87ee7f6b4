import { cpuKernels } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { kernel, type TfjsKernel } from './kernel.js';

const OPS = { add: tf.add, sub: tf.sub, mul: tf.mul } as const;

/** add / sub / mul with numpy broadcasting (tfjs broadcasts the same way; the check gives the CPU's message). */
function binary(op: keyof typeof OPS): TfjsKernel {
  return kernel({
    name: op,
    shapes: ([a, b]) => [cpuKernels.broadcastShapes(a, b, op)],
    run: ([a, b]) => [OPS[op](a, b)],
  });
}

export const add = binary('add');
export const sub = binary('sub');
export const mul = binary('mul');
