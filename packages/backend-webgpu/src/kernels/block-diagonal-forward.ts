import { type BackendTensor, formatShape, ShapeError } from '@blastkit/core';
import type { GpuTensor, Runtime } from '../runtime.js';
import { gemm } from './gemm.js';

/** Block-diagonal A: one batched GEMM, block i reading columns i·q… of x and writing columns i·p… of y. */
export function blockDiagonalForward(rt: Runtime, xIn: BackendTensor, blocksIn: BackendTensor): GpuTensor {
  const x = rt.tensor(xIn, 'blockDiagonalForward x');
  const blocks = rt.tensor(blocksIn, 'blockDiagonalForward blocks');
  if (blocks.shape.length !== 3) {
    throw new ShapeError(
      `blockDiagonalForward: blocks has shape ${formatShape(blocks.shape)}, expected [b,m/b,n/b]`,
    );
  }
  const [b, p, q] = blocks.shape;
  if (x.shape.length !== 2 || x.shape[1] !== b * q) {
    throw new ShapeError(`blockDiagonalForward: x has shape ${formatShape(x.shape)}, expected [N,${b * q}]`);
  }
  const N = x.shape[0];
  const y = rt.alloc([N, b * p], 'blockDiagonalForward output');
  if (N * b * p === 0) return y;
  gemm(rt, {
    M: N,
    N: p,
    K: q,
    batch: b,
    a: { tensor: x, ld: b * q, batchStride: q },
    b: { tensor: blocks, ld: q, batchStride: p * q, transpose: true },
    c: { tensor: y, ld: b * p, batchStride: p },
  });
  return y;
}
