import { blastDims, blastForward, expectBlocksDivide } from '../cpu/kernels/structured-forward.js';
import { InvalidArgumentError } from '../errors.js';
import type { Rng } from '../random/rng.js';
import { Tensor } from '../tensor/tensor.js';
import type { BlockDiagonalMatrix } from './block-diagonal.js';
import { requireTensor } from './dense.js';
import type { LowRankMatrix } from './low-rank.js';
import type { MonarchMatrix } from './monarch.js';
import type { StructuredMatrix } from './structured-matrix.js';

/**
 * A BLAST matrix (method.md §1): b×b blocks A_ij = U_i·diag(s_ij)·V_jᵀ, stored in the reference's layout
 * B [b, m/b, r] (U_i), C [b, r, n/b] (V_jᵀ), D [b, b, r] (s_ij). r(m+n+b²) parameters.
 */
export class BlastMatrix implements StructuredMatrix {
  readonly kind = 'blast' as const;
  readonly shape: readonly [number, number];
  readonly numBlocks: number;
  readonly rank: number;

  constructor(
    readonly B: Tensor,
    readonly C: Tensor,
    readonly D: Tensor,
  ) {
    const { b, r, m, n } = blastDims(B, C, D);
    this.numBlocks = b;
    this.rank = r;
    this.shape = [m, n];
  }

  static fromNamedTensors(tensors: Record<string, Tensor>): BlastMatrix {
    return new BlastMatrix(
      requireTensor(tensors, 'B', 'blast'),
      requireTensor(tensors, 'C', 'blast'),
      requireTensor(tensors, 'D', 'blast'),
    );
  }

  /** Gaussian factors (U, V entries N(0, 1/r)·scale, s entries N(0,1)): test targets and benchmarks. */
  static random(m: number, n: number, numBlocks: number, rank: number, rng: Rng, scale = 1): BlastMatrix {
    expectBlocksDivide('BlastMatrix.random', m, n, numBlocks);
    if (!Number.isInteger(rank) || rank <= 0)
      throw new InvalidArgumentError(`BlastMatrix.random: rank ${rank} must be a positive integer`);
    const b = numBlocks;
    const std = scale / Math.sqrt(rank);
    const B = new Tensor([b, m / b, rank]);
    const C = new Tensor([b, rank, n / b]);
    const D = new Tensor([b, b, rank]);
    rng.fillNormal(B.data, std);
    rng.fillNormal(C.data, std);
    rng.fillNormal(D.data, 1);
    return new BlastMatrix(B, C, D);
  }

  get parameterCount(): number {
    return this.B.size + this.C.size + this.D.size;
  }
  flops(tokens: number): number {
    return 2 * this.parameterCount * tokens;
  }
  apply(x: Tensor): Tensor {
    return blastForward(x, this.B, this.C, this.D);
  }
  applyTransposed(x: Tensor): Tensor {
    return blastForward(x, this.B, this.C, this.D, { transpose: true });
  }
  toDense(): Tensor {
    const b = this.numBlocks;
    const r = this.rank;
    const [m, n] = this.shape;
    const p = m / b;
    const q = n / b;
    const out = new Tensor([m, n]);
    const scaled = new Float64Array(r);
    for (let i = 0; i < b; i++) {
      for (let j = 0; j < b; j++) {
        for (let row = 0; row < p; row++) {
          const uo = (i * p + row) * r;
          for (let k = 0; k < r; k++) scaled[k] = this.B.data[uo + k] * this.D.data[(i * b + j) * r + k];
          for (let col = 0; col < q; col++) {
            let s = 0;
            for (let k = 0; k < r; k++) s += scaled[k] * this.C.data[(j * r + k) * q + col];
            out.data[(i * p + row) * n + j * q + col] = s;
          }
        }
      }
    }
    return out;
  }
  toNamedTensors(): Record<string, Tensor> {
    return { B: this.B, C: this.C, D: this.D };
  }
}

/** Low-rank U·Vᵀ as BLAST with b blocks: U_i, V_j are row blocks of U, V and every s_ij = 1. Exact. */
export function blastFromLowRank(lowRank: LowRankMatrix, numBlocks: number): BlastMatrix {
  const [m, n] = lowRank.shape;
  expectBlocksDivide('blastFromLowRank', m, n, numBlocks);
  const b = numBlocks;
  const r = lowRank.rank;
  const q = n / b;
  const B = new Tensor([b, m / b, r], lowRank.U.data.slice());
  const C = new Tensor([b, r, q]);
  for (let j = 0; j < b; j++) {
    for (let row = 0; row < q; row++) {
      for (let k = 0; k < r; k++) C.data[(j * r + k) * q + row] = lowRank.V.data[(j * q + row) * r + k];
    }
  }
  return new BlastMatrix(B, C, Tensor.filled([b, b, r], 1));
}

/**
 * Block-diagonal as BLAST with r = min(p, q): the block goes into U_i (identity V_i) or into V_i (identity U_i),
 * s_ii = 1 and s_ij = 0 off the diagonal. Exact.
 */
export function blastFromBlockDiagonal(blockDiagonal: BlockDiagonalMatrix): BlastMatrix {
  const [b, p, q] = blockDiagonal.blocks.shape;
  const r = Math.min(p, q);
  const B = new Tensor([b, p, r]);
  const C = new Tensor([b, r, q]);
  const D = new Tensor([b, b, r]);
  const blocks = blockDiagonal.blocks.data;
  for (let i = 0; i < b; i++) {
    if (q <= p) {
      B.data.set(blocks.subarray(i * p * q, (i + 1) * p * q), i * p * r);
      for (let k = 0; k < r; k++) C.data[(i * r + k) * q + k] = 1;
    } else {
      for (let k = 0; k < r; k++) B.data[(i * p + k) * r + k] = 1;
      C.data.set(blocks.subarray(i * p * q, (i + 1) * p * q), i * r * q);
    }
    D.data.fill(1, (i * b + i) * r, (i * b + i + 1) * r);
  }
  return new BlastMatrix(B, C, D);
}

/**
 * Monarch as BLAST with r = b·r′: column group g = (i+j) mod b of U_i and V_j serves block (i, j) alone,
 * and s_ij is the indicator of that group (method.md §1). Exact: only a permutation of the factors' columns.
 */
export function blastFromMonarch(monarch: MonarchMatrix): BlastMatrix {
  const b = monarch.numBlocks;
  const rp = monarch.blockRank;
  const r = b * rp;
  const [m, n] = monarch.shape;
  const p = m / b;
  const q = n / b;
  const B = new Tensor([b, p, r]);
  const C = new Tensor([b, r, q]);
  const D = new Tensor([b, b, r]);
  const L = monarch.L.data;
  const R = monarch.R.data;
  for (let i = 0; i < b; i++) {
    for (let g = 0; g < b; g++) {
      const j = (g - i + b) % b; // U_i group g serves block (i, j)
      for (let row = 0; row < p; row++) {
        for (let k = 0; k < rp; k++)
          B.data[(i * p + row) * r + g * rp + k] = L[(i * p + row) * r + j * rp + k];
      }
      const i2 = (g - i + b) % b; // here i plays the column-block index: V_i group g serves block (i2, i)
      for (let k = 0; k < rp; k++) {
        C.data.set(
          R.subarray((i * r + i2 * rp + k) * q, (i * r + i2 * rp + k + 1) * q),
          (i * r + g * rp + k) * q,
        );
      }
    }
    for (let j = 0; j < b; j++) {
      const g = (i + j) % b;
      D.data.fill(1, (i * b + j) * r + g * rp, (i * b + j) * r + (g + 1) * rp);
    }
  }
  return new BlastMatrix(B, C, D);
}
