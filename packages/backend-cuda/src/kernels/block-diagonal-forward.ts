import { type BackendTensor, formatShape, ShapeError } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';
import { gemmRowMajor } from './gemm.js';
import { expectRows } from './shapes.js';

/** Block-diagonal A: y_i = x_i·blocks_iᵀ for the b blocks, one strided batched GEMM. */
export function blockDiagonalForward(rt: Runtime, xIn: BackendTensor, blocksIn: BackendTensor): CudaTensor {
  const x = rt.tensor(xIn, 'blockDiagonalForward x');
  const blocks = rt.tensor(blocksIn, 'blockDiagonalForward blocks');
  if (blocks.shape.length !== 3) {
    throw new ShapeError(
      `blockDiagonalForward: blocks has shape ${formatShape(blocks.shape)}, expected [b,m/b,n/b]`,
    );
  }
  const [b, p, q] = blocks.shape;
  const N = expectRows('blockDiagonalForward', x, b * q);
  const y = rt.alloc([N, b * p], 'blockDiagonalForward output');
  gemmRowMajor(rt, {
    M: N,
    N: p,
    K: q,
    batch: b,
    a: { id: x.id, ld: b * q, stride: q },
    b: { id: blocks.id, ld: q, stride: p * q, transpose: true },
    c: { id: y.id, ld: b * p, stride: p },
  });
  return y;
}
