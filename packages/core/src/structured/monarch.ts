import { transpose } from '../cpu/kernels/layout.js';
import { monarchForward } from '../cpu/kernels/structured-forward.js';
import { expectShape, formatShape, ShapeError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { requireTensor } from './dense.js';
import type { StructuredMatrix } from './structured-matrix.js';

/**
 * Monarch / block low-rank: A = L·P·R with block-diagonal R [b, b·r′, n/b] and L [b, m/b, b·r′] and the
 * permutation P that routes group i of input block j to output block i. Every block A_ij = L_i[:, group j] ·
 * R_j[group i, :] has its own rank-r′ factors; b·r′(m+n) parameters. The Monarch matrices of Dao et al.
 * are the case r′ = (n/b)/b.
 */
export class MonarchMatrix implements StructuredMatrix {
  readonly kind = 'monarch' as const;
  readonly shape: readonly [number, number];
  readonly numBlocks: number;
  /** r′: the rank of each block. */
  readonly blockRank: number;

  constructor(
    readonly L: Tensor,
    readonly R: Tensor,
  ) {
    if (L.rank !== 3)
      throw new ShapeError(`MonarchMatrix: L has shape ${formatShape(L.shape)}, expected [b,m/b,b·r′]`);
    const [b, p, br] = L.shape;
    if (br % b !== 0)
      throw new ShapeError(`MonarchMatrix: L's last axis (${br}) must be a multiple of b=${b}`);
    expectShape('MonarchMatrix: R', R.shape, [b, br, -1]);
    this.numBlocks = b;
    this.blockRank = br / b;
    this.shape = [b * p, b * R.shape[2]];
  }

  static fromNamedTensors(tensors: Record<string, Tensor>): MonarchMatrix {
    return new MonarchMatrix(requireTensor(tensors, 'L', 'monarch'), requireTensor(tensors, 'R', 'monarch'));
  }

  get parameterCount(): number {
    return this.L.size + this.R.size;
  }
  flops(tokens: number): number {
    return 2 * this.parameterCount * tokens;
  }
  apply(x: Tensor): Tensor {
    return monarchForward(x, this.L, this.R);
  }
  applyTransposed(x: Tensor): Tensor {
    // Aᵀ is Monarch again, with L′_j = R_jᵀ and R′_i = L_iᵀ.
    return monarchForward(x, transpose(this.R, [0, 2, 1]), transpose(this.L, [0, 2, 1]));
  }
  toDense(): Tensor {
    const b = this.numBlocks;
    const rp = this.blockRank;
    const br = b * rp;
    const [m, n] = this.shape;
    const p = m / b;
    const q = n / b;
    const out = new Tensor([m, n]);
    const L = this.L.data;
    const R = this.R.data;
    for (let i = 0; i < b; i++) {
      for (let j = 0; j < b; j++) {
        for (let row = 0; row < p; row++) {
          for (let col = 0; col < q; col++) {
            let s = 0;
            for (let k = 0; k < rp; k++)
              s += L[(i * p + row) * br + j * rp + k] * R[(j * br + i * rp + k) * q + col];
            out.data[(i * p + row) * n + j * q + col] = s;
          }
        }
      }
    }
    return out;
  }
  toNamedTensors(): Record<string, Tensor> {
    return { L: this.L, R: this.R };
  }
}
