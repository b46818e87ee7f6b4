import {
  type BackendTensor,
  type BlastForwardOptions,
  expectShape,
  formatShape,
  ShapeError,
} from '@blastkit/core';
import { FLAT_GROUP, type GpuTensor, grid, type Program, type Runtime, WGSL_PRELUDE } from '../runtime.js';
import { gemm } from './gemm.js';

// Pass 2: w_i[t, k] = Σ_j s_ij[k]·z_j[t, k] (s_ji for Aᵀ): b²·N·r multiply-adds, never stored as b×b×N×r.
// One invocation per (t, k) holds the b values z_j[t, k] in registers and writes all b outputs, so Z is read
// once and W written once (b is compiled in: it is a property of the layer, not of the call).
function mixProgram(b: number, transpose: boolean): Program {
  return {
    key: `blast-mix:b=${b}:transpose=${+transpose}`,
    source: () => /* wgsl */ `${WGSL_PRELUDE}
@group(0) @binding(1) var<storage, read> D: array<f32>;
@group(0) @binding(2) var<storage, read> Z: array<f32>;
@group(0) @binding(3) var<storage, read_write> W: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let e = ${FLAT_GROUP} * 64u + lid;
  let N = pu(0u); let r = pu(1u);
  if (e >= N * r) { return; }
  let k = e % r;
  let plane = N * r;
  var z: array<f32, ${b}>;
  for (var j = 0u; j < ${b}u; j++) { z[j] = Z[j * plane + e]; }
  for (var i = 0u; i < ${b}u; i++) {
    var acc = 0.0;
    for (var j = 0u; j < ${b}u; j++) {
      acc = fma(D[(${transpose ? `j * ${b}u + i` : `i * ${b}u + j`}) * r + k], z[j], acc);
    }
    W[i * plane + e] = acc;
  }
}
`,
  };
}

/**
 * The BLAST layer in three passes (method.md §1): z_j = x_j·C_jᵀ (one batched GEMM over the b blocks),
 * w_i = Σ_j s_ij ⊙ z_j, y_i = w_i·B_iᵀ (one batched GEMM writing the output blocks in place). With
 * `transpose`, Aᵀ: B and C swap roles and D is read as s_ji.
 *
 * Decode (N ≤ 8) runs the GEMMs as matrix-vector kernels over the factors' rows, so the layer reads its
 * (m + n)·r + b²·r parameters once: the memory traffic that bounds decode. The coupling is not folded into
 * the second GEMM's prologue: each w element would be recomputed for every column tile of B_i (b reads of Z
 * each time, p/BN tiles), more traffic than one write and one read of W.
 */
export function blastForward(
  rt: Runtime,
  xIn: BackendTensor,
  BIn: BackendTensor,
  CIn: BackendTensor,
  DIn: BackendTensor,
  options: BlastForwardOptions = {},
): GpuTensor {
  const x = rt.tensor(xIn, 'blastForward x');
  const B = rt.tensor(BIn, 'blastForward B');
  const C = rt.tensor(CIn, 'blastForward C');
  const D = rt.tensor(DIn, 'blastForward D');
  if (B.shape.length !== 3)
    throw new ShapeError(`BLAST: B has shape ${formatShape(B.shape)}, expected [b,m/b,r]`);
  const [b, p, r] = B.shape;
  expectShape('BLAST: C', C.shape, [b, r, -1]);
  expectShape('BLAST: D', D.shape, [b, b, r]);
  const q = C.shape[2];
  const m = b * p;
  const n = b * q;
  const transpose = options.transpose ?? false;
  const inBlock = transpose ? p : q;
  const outBlock = transpose ? q : p;
  const nIn = transpose ? m : n;
  const nOut = transpose ? n : m;
  if (x.shape.length !== 2 || x.shape[1] !== nIn) {
    throw new ShapeError(
      `blastForward${transpose ? ' (transposed)' : ''}: x has shape ${formatShape(x.shape)}, expected [N,${nIn}]`,
    );
  }
  const N = x.shape[0];
  const y = rt.alloc([N, nOut], 'blastForward output');
  if (N * nOut === 0) return y;
  const Z = rt.alloc([b, N, r], 'blastForward z');
  const W = rt.alloc([b, N, r], 'blastForward w');
  // 1. z_j = x_j·C_jᵀ (C_j is [r, q]), or for Aᵀ z_i = x_i·B_i (B_i is [p, r])
  gemm(rt, {
    M: N,
    N: r,
    K: inBlock,
    batch: b,
    a: { tensor: x, ld: nIn, batchStride: inBlock },
    b: transpose
      ? { tensor: B, ld: r, batchStride: p * r }
      : { tensor: C, ld: q, batchStride: r * q, transpose: true },
    c: { tensor: Z, ld: r, batchStride: N * r },
  });
  // 2. mixing by the diagonal couplings
  rt.run(mixProgram(b, transpose), [N, r], [D, Z, W], grid(Math.ceil((N * r) / 64), rt.maxGroupsPerDim));
  // 3. y_i = w_i·B_iᵀ into columns [i·p, (i+1)·p) of y, or for Aᵀ y_j = w_j·C_j
  gemm(rt, {
    M: N,
    N: outBlock,
    K: r,
    batch: b,
    a: { tensor: W, ld: r, batchStride: N * r },
    b: transpose
      ? { tensor: C, ld: q, batchStride: r * q }
      : { tensor: B, ld: r, batchStride: p * r, transpose: true },
    c: { tensor: y, ld: nOut, batchStride: outBlock },
  });
  rt.release(Z);
  rt.release(W);
  return y;
}
