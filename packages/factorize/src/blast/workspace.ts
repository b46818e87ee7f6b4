import { type Backend, type BackendTensor, Tensor } from '@blastkit/core';

/**
 * The batched tensor algebra shared by the BLAST solvers, on any Backend. A is held as its b² blocks
 * [b·b, p, q] (block (i, j) at index i·b + j); factors use the reference layout B [b,p,r], C [b,r,q], D [b,b,r].
 * Every intermediate is tracked and freed by `release()`, so GPU backends do not leak across steps.
 */
export class BlastWorkspace {
  readonly p: number;
  readonly q: number;
  private tracked: BackendTensor[] = [];
  private eye: BackendTensor;

  constructor(
    readonly backend: Backend,
    readonly m: number,
    readonly n: number,
    readonly b: number,
    readonly r: number,
  ) {
    this.p = m / b;
    this.q = n / b;
    this.eye = backend.upload(Tensor.eye(r));
  }

  /** Records a handle for the next `release()`; returns it. */
  t<T extends BackendTensor>(handle: T): T {
    this.tracked.push(handle);
    return handle;
  }

  /** Frees every tracked intermediate except `keep`. */
  release(...keep: BackendTensor[]): void {
    for (const h of this.tracked) if (!keep.includes(h)) this.backend.dispose(h);
    this.tracked = this.tracked.filter((h) => keep.includes(h));
  }

  /** Frees everything the workspace owns. */
  close(): void {
    this.release();
    this.backend.dispose(this.eye);
  }

  /** A [m, n] → its blocks [b², p, q]. */
  toBlocks(A: BackendTensor): BackendTensor {
    const { backend: be, b, p, q } = this;
    const grid = this.t(be.transpose(be.reshape(A, [b, p, b, q]), [0, 2, 1, 3]));
    return this.t(be.reshape(grid, [b * b, p, q]));
  }

  /** Blocks [b², p, q] ordered (i, j) → ordered (j, i): the blocks of one block-column become contiguous. */
  columnMajorBlocks(blocks: BackendTensor): BackendTensor {
    const { backend: be, b, p, q } = this;
    const t = this.t(be.transpose(be.reshape(blocks, [b, b, p, q]), [1, 0, 2, 3]));
    return this.t(be.reshape(t, [b * b, p, q]));
  }

  /** Row i of D as [b, 1, r] (s_ij for every j) — or column j as [b, 1, r] with `column`. */
  couplings(D: BackendTensor, index: number, column = false): BackendTensor {
    const { backend: be, b, r } = this;
    const src = column ? this.t(be.transpose(D, [1, 0, 2])) : D;
    return this.t(be.reshape(this.t(be.slice(src, [index, 0, 0], [1, b, r])), [b, 1, r]));
  }

  /** Factor block k of B [b,p,r] (or C [b,r,q]) as a batch of one. */
  block(F: BackendTensor, k: number): BackendTensor {
    const [, x, y] = F.shape;
    return this.t(this.backend.slice(F, [k, 0, 0], [1, x, y]));
  }

  /** The blocks of Â = BLAST(B, C, D): [b², p, q]. */
  reconstructBlocks(B: BackendTensor, C: BackendTensor, D: BackendTensor): BackendTensor {
    const be = this.backend;
    const rows: BackendTensor[] = [];
    for (let i = 0; i < this.b; i++) {
      const scaledU = this.t(be.mul(this.block(B, i), this.couplings(D, i))); // [b, p, r]: U_i diag(s_ij)
      rows.push(this.t(be.matmul(scaledU, C))); // [b, p, q]
    }
    return this.t(be.concat(rows, 0));
  }

  /** Σ_k weights[k] ⊙ (x_k x_kᵀ)-style sums: reduce(mul(grams [b,r,r], outer(s) [b,r,r]), over the batch). */
  weightedGramSum(grams: BackendTensor, s: BackendTensor): BackendTensor {
    const be = this.backend;
    const col = this.t(be.reshape(s, [this.b, this.r, 1]));
    const outer = this.t(be.matmul(col, s)); // [b, r, r]: s sᵀ per batch entry
    return this.t(be.reduce(this.t(be.mul(grams, outer)), 'sum', 0));
  }

  /** εI for a scalar handle ε (shape []). */
  ridge(eps: BackendTensor): BackendTensor {
    return this.t(this.backend.mul(this.eye, eps));
  }

  /** Block-row i of a blocks tensor [b², p, q] → [b, p, q]. */
  blockRow(blocks: BackendTensor, i: number): BackendTensor {
    return this.t(this.backend.slice(blocks, [i * this.b, 0, 0], [this.b, this.p, this.q]));
  }

  /** X·F⁻¹ for SPD F, batched: X [b, k, r], F [b, r, r]. */
  solveRight(F: BackendTensor, X: BackendTensor): BackendTensor {
    const be = this.backend;
    const xt = this.t(be.transpose(X, [0, 2, 1]));
    return this.t(be.transpose(this.t(be.choleskySolve(F, xt)), [0, 2, 1]));
  }
}
