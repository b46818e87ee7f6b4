import {
  type Backend,
  BlockDiagonalMatrix,
  CpuBackend,
  cpuKernels,
  InvalidArgumentError,
  LowRankMatrix,
  MonarchMatrix,
  Tensor,
} from '@blastkit/core';
import { validateTarget } from '../validate.js';

/**
 * The optimal rank-r approximation (Eckart–Young): U·diag(S) and V from a truncated SVD, stored as
 * LowRankMatrix(U√S, V√S) so both factors carry the same scale.
 */
export async function lowRankFactorize(
  A: Tensor,
  rank: number,
  backend: Backend = new CpuBackend(),
): Promise<LowRankMatrix> {
  const [m, n] = validateTarget(A);
  if (!Number.isInteger(rank) || rank < 1 || rank > Math.min(m, n)) {
    throw new InvalidArgumentError(
      `low-rank: rank ${rank} must be an integer in [1, ${Math.min(m, n)}] for a ${m}×${n} matrix`,
    );
  }
  const h = backend.upload(A);
  const svd = backend.truncatedSvd(h, rank);
  const [U, S, V] = await Promise.all([
    backend.download(svd.U),
    backend.download(svd.S),
    backend.download(svd.V),
  ]);
  for (const t of [h, svd.U, svd.S, svd.V]) backend.dispose(t);
  for (let k = 0; k < rank; k++) {
    const root = Math.sqrt(S.data[k]);
    for (let i = 0; i < m; i++) U.data[i * rank + k] *= root;
    for (let j = 0; j < n; j++) V.data[j * rank + k] *= root;
  }
  return new LowRankMatrix(U, V);
}

/** The nearest block-diagonal matrix in Frobenius norm: keep the b diagonal blocks. */
export function blockDiagonalFactorize(A: Tensor, numBlocks: number): BlockDiagonalMatrix {
  const [m, n] = validateTarget(A);
  expectDivides('block-diagonal', m, n, numBlocks);
  const p = m / numBlocks;
  const q = n / numBlocks;
  const blocks = new Tensor([numBlocks, p, q]);
  for (let i = 0; i < numBlocks; i++) {
    for (let row = 0; row < p; row++) {
      const src = (i * p + row) * n + i * q;
      blocks.data.set(A.data.subarray(src, src + q), (i * p + row) * q);
    }
  }
  return new BlockDiagonalMatrix(blocks);
}

/**
 * The nearest Monarch (block low-rank) matrix with b×b blocks of rank r′: each block's own truncated SVD,
 * the projection of Dao et al. (block-wise, exact for Monarch targets). Block (i, j)'s factors go to
 * L_i[:, group j] and R_j[group i, :].
 */
export function monarchFactorize(A: Tensor, numBlocks: number, blockRank: number): MonarchMatrix {
  const [m, n] = validateTarget(A);
  expectDivides('Monarch', m, n, numBlocks);
  const b = numBlocks;
  const p = m / b;
  const q = n / b;
  if (!Number.isInteger(blockRank) || blockRank < 1 || blockRank > Math.min(p, q)) {
    throw new InvalidArgumentError(
      `Monarch: block rank ${blockRank} must be an integer in [1, ${Math.min(p, q)}] for ${p}×${q} blocks`,
    );
  }
  const rp = blockRank;
  const br = b * rp;
  const L = new Tensor([b, p, br]);
  const R = new Tensor([b, br, q]);
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < b; j++) {
      const block = cpuKernels.slice(A, [i * p, j * q], [p, q]);
      const { U, S, V } = cpuKernels.truncatedSvd(block, rp);
      for (let k = 0; k < rp; k++) {
        const root = Math.sqrt(S.data[k]);
        for (let row = 0; row < p; row++)
          L.data[(i * p + row) * br + j * rp + k] = U.data[row * rp + k] * root;
        for (let col = 0; col < q; col++)
          R.data[(j * br + i * rp + k) * q + col] = V.data[col * rp + k] * root;
      }
    }
  }
  return new MonarchMatrix(L, R);
}

function expectDivides(what: string, m: number, n: number, b: number): void {
  if (!Number.isInteger(b) || b <= 0 || m % b !== 0 || n % b !== 0) {
    throw new InvalidArgumentError(`${what}: ${b} blocks must divide both sides of the ${m}×${n} matrix`);
  }
}
