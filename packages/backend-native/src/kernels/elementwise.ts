import {
  type BackendTensor,
  cpuKernels,
  expectShape,
  InvalidArgumentError,
  ShapeError,
  shapeSize,
  UNARY_OPS,
  type UnaryOp,
} from '@blastkit/core';
import type { NativeTensor, Runtime } from '../runtime.js';

const BINARY_CODES = { add: 0, sub: 1, mul: 2 } as const;

/** Element strides of `shape` seen through the broadcast to `outShape` (0 along broadcast axes). */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const o = outShape.length - shape.length + i;
    strides[o] = shape[i] === 1 ? 0 : s;
    s *= shape[i];
  }
  return strides;
}

/** Broadcasting add/sub/mul (numpy rules, the reference's message when shapes do not broadcast). */
export function binary(
  rt: Runtime,
  op: 'add' | 'sub' | 'mul',
  a: BackendTensor,
  b: BackendTensor,
): NativeTensor {
  const A = rt.tensor(a, `${op} a`);
  const B = rt.tensor(b, `${op} b`);
  const shape = cpuKernels.broadcastShapes(A.shape, B.shape, op);
  const y = rt.alloc(shape, `${op} output`);
  if (y.size === 0) return y;
  rt.native.binary(
    rt.ctx,
    BINARY_CODES[op],
    y.id,
    A.id,
    B.id,
    shape,
    broadcastStrides(A.shape, shape),
    broadcastStrides(B.shape, shape),
  );
  return y;
}

/** a·alpha + beta. */
export function scale(rt: Runtime, a: BackendTensor, alpha: number, beta = 0): NativeTensor {
  const A = rt.tensor(a, 'scale input');
  const y = rt.alloc(A.shape, 'scale output');
  rt.native.scale(rt.ctx, y.id, A.id, A.size, alpha, beta);
  return y;
}

/** One elementwise function (UNARY_OPS) applied to every entry. */
export function unary(rt: Runtime, x: BackendTensor, op: UnaryOp): NativeTensor {
  const code = UNARY_OPS.indexOf(op);
  if (code < 0) {
    throw new InvalidArgumentError(`unary: unknown op '${op}', expected one of ${UNARY_OPS.join(', ')}`);
  }
  const X = rt.tensor(x, `${op} input`);
  const y = rt.alloc(X.shape, `${op} output`);
  rt.native.unary(rt.ctx, code, y.id, X.id, X.size);
  return y;
}

/** Rows of the last axis (the reference's rowsOf): count and width. */
export function rowsOf(shape: readonly number[], what: string): { rows: number; width: number } {
  if (shape.length === 0) throw new ShapeError(`${what}: expected at least one axis, got a scalar`);
  const width = shape[shape.length - 1];
  return { rows: width === 0 ? 0 : shapeSize(shape) / width, width };
}

/** Softmax over the last axis. */
export function softmax(rt: Runtime, x: BackendTensor): NativeTensor {
  const X = rt.tensor(x, 'softmax input');
  const { rows, width } = rowsOf(X.shape, 'softmax');
  const y = rt.alloc(X.shape, 'softmax output');
  rt.native.softmax(rt.ctx, y.id, X.id, rows, width);
  return y;
}

/** Llama's RMSNorm over the last axis. */
export function rmsNorm(rt: Runtime, x: BackendTensor, weight: BackendTensor, eps: number): NativeTensor {
  const X = rt.tensor(x, 'rmsNorm x');
  const W = rt.tensor(weight, 'rmsNorm weight');
  const { rows, width } = rowsOf(X.shape, 'rmsNorm');
  expectShape('rmsNorm: weight', W.shape, [width]);
  const y = rt.alloc(X.shape, 'rmsNorm output');
  rt.native.rmsNorm(rt.ctx, y.id, X.id, W.id, rows, width, eps);
  return y;
}

/** LayerNorm over the last axis (biased variance). */
export function layerNorm(
  rt: Runtime,
  x: BackendTensor,
  weight: BackendTensor,
  bias: BackendTensor,
  eps: number,
): NativeTensor {
  const X = rt.tensor(x, 'layerNorm x');
  const W = rt.tensor(weight, 'layerNorm weight');
  const Bias = rt.tensor(bias, 'layerNorm bias');
  const { rows, width } = rowsOf(X.shape, 'layerNorm');
  expectShape('layerNorm: weight', W.shape, [width]);
  expectShape('layerNorm: bias', Bias.shape, [width]);
  const y = rt.alloc(X.shape, 'layerNorm output');
  rt.native.layerNorm(rt.ctx, y.id, X.id, W.id, Bias.id, rows, width, eps);
  return y;
}
