import { transpose } from '../cpu/kernels/layout.js';
import { blockDiagonalForward } from '../cpu/kernels/structured-forward.js';
import { formatShape, ShapeError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { requireTensor } from './dense.js';
import type { StructuredMatrix } from './structured-matrix.js';

/** A = diag(blocks_0, …, blocks_{b−1}) with blocks [b, m/b, n/b]: mn/b parameters. */
export class BlockDiagonalMatrix implements StructuredMatrix {
  readonly kind = 'block-diagonal' as const;
  readonly shape: readonly [number, number];
  readonly numBlocks: number;

  constructor(readonly blocks: Tensor) {
    if (blocks.rank !== 3) {
      throw new ShapeError(
        `BlockDiagonalMatrix: blocks has shape ${formatShape(blocks.shape)}, expected [b,m/b,n/b]`,
      );
    }
    const [b, p, q] = blocks.shape;
    this.numBlocks = b;
    this.shape = [b * p, b * q];
  }

  static fromNamedTensors(tensors: Record<string, Tensor>): BlockDiagonalMatrix {
    return new BlockDiagonalMatrix(requireTensor(tensors, 'blocks', 'block-diagonal'));
  }

  get parameterCount(): number {
    return this.blocks.size;
  }
  flops(tokens: number): number {
    return 2 * this.parameterCount * tokens;
  }
  apply(x: Tensor): Tensor {
    return blockDiagonalForward(x, this.blocks);
  }
  applyTransposed(x: Tensor): Tensor {
    return blockDiagonalForward(x, transpose(this.blocks, [0, 2, 1]));
  }
  toDense(): Tensor {
    const [b, p, q] = this.blocks.shape;
    const [m, n] = this.shape;
    const out = new Tensor([m, n]);
    for (let i = 0; i < b; i++) {
      for (let r = 0; r < p; r++) {
        const src = (i * p + r) * q;
        out.data.set(this.blocks.data.subarray(src, src + q), (i * p + r) * n + i * q);
      }
    }
    return out;
  }
  toNamedTensors(): Record<string, Tensor> {
    return { blocks: this.blocks };
  }
}
