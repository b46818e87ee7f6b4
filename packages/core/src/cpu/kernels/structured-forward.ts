import type { BlastForwardOptions } from '../../backend/backend.js';
import { expectShape, formatShape, InvalidArgumentError, ShapeError } from '../../errors.js';
import { Tensor } from '../../tensor/tensor.js';
import { operand, sgemm } from './sgemm.js';

// Scratch for the intermediate [b, N, r] tensors of the structured forwards; grown on demand, never shrunk.
let scratchZ = new Float32Array(0);
let scratchW = new Float32Array(0);

function ensureScratch(size: number): void {
  if (scratchZ.length < size) scratchZ = new Float32Array(size);
  if (scratchW.length < size) scratchW = new Float32Array(size);
}

function expectRows(what: string, x: Tensor, width: number): number {
  if (x.rank !== 2 || x.shape[1] !== width) {
    throw new ShapeError(`${what}: x has shape ${formatShape(x.shape)}, expected [N,${width}]`);
  }
  return x.shape[0];
}

/** Checks B [b,p,r], C [b,r,q], D [b,b,r] against each other; returns the sizes. */
export function blastDims(B: Tensor, C: Tensor, D: Tensor) {
  if (B.rank !== 3) throw new ShapeError(`BLAST: B has shape ${formatShape(B.shape)}, expected [b,m/b,r]`);
  const [b, p, r] = B.shape;
  expectShape('BLAST: C', C.shape, [b, r, -1]);
  expectShape('BLAST: D', D.shape, [b, b, r]);
  const q = C.shape[2];
  return { b, p, q, r, m: b * p, n: b * q };
}

/**
 * The BLAST forward of method.md §1 without ever forming the dense matrix or the b×b×N×r tensor:
 * z_j = x_j·V_j (b GEMMs), w_i = Σ_j s_ij ⊙ z_j (b²·N·r multiply-adds), y_i = w_i·U_iᵀ (b GEMMs).
 * With `transpose`, applies Aᵀ: the roles of B and C swap and D is read as s_ji.
 */
export function blastForward(
  x: Tensor,
  B: Tensor,
  C: Tensor,
  D: Tensor,
  options: BlastForwardOptions = {},
): Tensor {
  const { b, p, q, r, m, n } = blastDims(B, C, D);
  const transpose = options.transpose ?? false;
  const inBlock = transpose ? p : q;
  const outBlock = transpose ? q : p;
  const nIn = transpose ? m : n;
  const nOut = transpose ? n : m;
  const N = expectRows(`blastForward${transpose ? ' (transposed)' : ''}`, x, nIn);
  ensureScratch(b * N * r);
  const Z = scratchZ;
  const W = scratchW;
  // 1. z_j = x_j · V_j  (V_j = C_jᵀ), or for Aᵀ: z_i = x_i · U_i
  for (let j = 0; j < b; j++) {
    const factor = transpose ? operand(B.data, j * p * r, r, false) : operand(C.data, j * r * q, q, true);
    sgemm(N, r, inBlock, 1, operand(x.data, j * inBlock, nIn), factor, 0, Z, j * N * r, r);
  }
  // 2. w_i = Σ_j s_ij ⊙ z_j  (for Aᵀ: w_j = Σ_i s_ij ⊙ z_i)
  const d = D.data;
  W.fill(0, 0, b * N * r);
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < b; j++) {
      const s = transpose ? (j * b + i) * r : (i * b + j) * r;
      for (let t = 0; t < N; t++) {
        const wo = (i * N + t) * r;
        const zo = (j * N + t) * r;
        for (let k = 0; k < r; k++) W[wo + k] += d[s + k] * Z[zo + k];
      }
    }
  }
  // 3. y_i = w_i · U_iᵀ, or for Aᵀ: y_j = w_j · V_jᵀ = w_j · C_j
  const y = new Tensor([N, nOut]);
  for (let i = 0; i < b; i++) {
    const factor = transpose ? operand(C.data, i * r * q, q, false) : operand(B.data, i * p * r, r, true);
    sgemm(N, outBlock, r, 1, operand(W, i * N * r, r), factor, 0, y.data, i * outBlock, nOut);
  }
  return y;
}

/** Low-rank A = U·Vᵀ: y = (x·V)·Uᵀ, x [N, n], U [m, r], V [n, r] → [N, m]. */
export function lowRankForward(x: Tensor, U: Tensor, V: Tensor): Tensor {
  if (U.rank !== 2)
    throw new ShapeError(`lowRankForward: U has shape ${formatShape(U.shape)}, expected [m,r]`);
  const [m, r] = U.shape;
  expectShape('lowRankForward: V', V.shape, [-1, r]);
  const n = V.shape[0];
  const N = expectRows('lowRankForward', x, n);
  ensureScratch(N * r);
  sgemm(N, r, n, 1, operand(x.data, 0, n), operand(V.data, 0, r), 0, scratchZ, 0, r);
  const y = new Tensor([N, m]);
  sgemm(N, m, r, 1, operand(scratchZ, 0, r), operand(U.data, 0, r, true), 0, y.data, 0, m);
  return y;
}

/**
 * Monarch / block low-rank A = L·P·R (see Backend.monarchForward): z_j = x_j·R_jᵀ gives b groups of r′ per
 * input block; group i of z_j is routed to output block i, where y_i = [z_0 group i, …, z_{b-1} group i]·L_iᵀ.
 */
export function monarchForward(x: Tensor, L: Tensor, R: Tensor): Tensor {
  if (L.rank !== 3)
    throw new ShapeError(`monarchForward: L has shape ${formatShape(L.shape)}, expected [b,m/b,b·r′]`);
  const [b, p, br] = L.shape;
  if (br % b !== 0)
    throw new ShapeError(`monarchForward: L's last axis (${br}) must be a multiple of b=${b}`);
  const rp = br / b;
  expectShape('monarchForward: R', R.shape, [b, br, -1]);
  const q = R.shape[2];
  const n = b * q;
  const m = b * p;
  const N = expectRows('monarchForward', x, n);
  ensureScratch(b * N * br);
  const Z = scratchZ;
  const G = scratchW;
  for (let j = 0; j < b; j++) {
    sgemm(N, br, q, 1, operand(x.data, j * q, n), operand(R.data, j * br * q, q, true), 0, Z, j * N * br, br);
  }
  // the permutation P: G_i[:, group j] = Z_j[:, group i]
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < b; j++) {
      for (let t = 0; t < N; t++) {
        const src = (j * N + t) * br + i * rp;
        G.set(Z.subarray(src, src + rp), (i * N + t) * br + j * rp);
      }
    }
  }
  const y = new Tensor([N, m]);
  for (let i = 0; i < b; i++) {
    sgemm(
      N,
      p,
      br,
      1,
      operand(G, i * N * br, br),
      operand(L.data, i * p * br, br, true),
      0,
      y.data,
      i * p,
      m,
    );
  }
  return y;
}

/** Block-diagonal A: blocks [b, p, q], x [N, b·q] → [N, b·p]. */
export function blockDiagonalForward(x: Tensor, blocks: Tensor): Tensor {
  if (blocks.rank !== 3) {
    throw new ShapeError(
      `blockDiagonalForward: blocks has shape ${formatShape(blocks.shape)}, expected [b,m/b,n/b]`,
    );
  }
  const [b, p, q] = blocks.shape;
  const N = expectRows('blockDiagonalForward', x, b * q);
  const y = new Tensor([N, b * p]);
  for (let i = 0; i < b; i++) {
    sgemm(
      N,
      p,
      q,
      1,
      operand(x.data, i * q, b * q),
      operand(blocks.data, i * p * q, q, true),
      0,
      y.data,
      i * p,
      b * p,
    );
  }
  return y;
}

/** Throws unless `b` divides both sides of an m×n matrix. */
export function expectBlocksDivide(what: string, m: number, n: number, b: number): void {
  if (!Number.isInteger(b) || b <= 0 || m % b !== 0 || n % b !== 0) {
    throw new InvalidArgumentError(`${what}: ${b} blocks must divide both ${m} and ${n}`);
  }
}
