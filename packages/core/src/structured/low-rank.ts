import { matmul } from '../cpu/kernels/matmul.js';
import { lowRankForward } from '../cpu/kernels/structured-forward.js';
import { expectShape, formatShape, ShapeError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { requireTensor } from './dense.js';
import type { StructuredMatrix } from './structured-matrix.js';

/** A = U·Vᵀ with U [m, r] and V [n, r]: r(m+n) parameters. */
export class LowRankMatrix implements StructuredMatrix {
  readonly kind = 'low-rank' as const;
  readonly shape: readonly [number, number];
  readonly rank: number;

  constructor(
    readonly U: Tensor,
    readonly V: Tensor,
  ) {
    if (U.rank !== 2)
      throw new ShapeError(`LowRankMatrix: U has shape ${formatShape(U.shape)}, expected [m,r]`);
    this.rank = U.shape[1];
    expectShape('LowRankMatrix: V', V.shape, [-1, this.rank]);
    this.shape = [U.shape[0], V.shape[0]];
  }

  static fromNamedTensors(tensors: Record<string, Tensor>): LowRankMatrix {
    return new LowRankMatrix(
      requireTensor(tensors, 'U', 'low-rank'),
      requireTensor(tensors, 'V', 'low-rank'),
    );
  }

  get parameterCount(): number {
    return this.rank * (this.shape[0] + this.shape[1]);
  }
  flops(tokens: number): number {
    return 2 * this.parameterCount * tokens;
  }
  apply(x: Tensor): Tensor {
    return lowRankForward(x, this.U, this.V);
  }
  applyTransposed(x: Tensor): Tensor {
    return lowRankForward(x, this.V, this.U);
  }
  toDense(): Tensor {
    return matmul(this.U, this.V, { transposeB: true });
  }
  toNamedTensors(): Record<string, Tensor> {
    return { U: this.U, V: this.V };
  }
}
