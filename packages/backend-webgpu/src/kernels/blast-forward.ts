import { type BackendTensor, type BlastForwardOptions, blastDims } from '@blastkit/core';
import { FLAT_GROUP, type GpuTensor, grid, type Program, type Runtime, WGSL_PRELUDE } from '../runtime.js';
import { GEMV_MAX_ROWS, gemm } from './gemm.js';

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

/** Invocations of the fused decode kernel: 8 groups of 32 lanes, one row of a factor per group at a time. */
const FUSED_GROUPS = 8;
const FUSED_LANES = 32;
/** Layers whose factors hold at most this many floats take the fused kernel (one workgroup reads them all). */
const FUSED_MAX_FACTOR_FLOATS = 1 << 18;

/**
 * Decode of a small BLAST layer in one dispatch and one workgroup, with z and w in workgroup memory (no round
 * trip through global memory): z_j = C_j·x_j row by row (32 lanes per row, a tree over the lanes), then
 * w_i = Σ_j s_ij ⊙ z_j, then y_i = B_i·w_i the same way. A dispatch per layer instead of three matters where
 * layers are small and a decode step is bound by dispatches (stories15M); larger layers need the whole GPU
 * and take the three passes.
 */
function fusedDecodeProgram(rows: number, zFloats: number): Program {
  const threads = FUSED_GROUPS * FUSED_LANES;
  // the reduction over the 32 lanes of each group, for every activation row at once
  const reduce = (target: string) => /* wgsl */ `
      for (var t = 0u; t < ${rows}u; t++) { red[(lid * ${rows}u) + t] = acc[t]; }
      for (var stride = ${FUSED_LANES / 2}u; stride > 0u; stride /= 2u) {
        workgroupBarrier();
        if (lane < stride) {
          for (var t = 0u; t < ${rows}u; t++) {
            red[lid * ${rows}u + t] += red[(lid + stride) * ${rows}u + t];
          }
        }
      }
      workgroupBarrier();
      if (lane == 0u && valid) {
        for (var t = 0u; t < ${rows}u; t++) { ${target} = red[lid * ${rows}u + t]; }
      }
      workgroupBarrier();`;
  return {
    key: `blast-decode-fused:m=${rows}:z=${zFloats}`,
    source: () => /* wgsl */ `${WGSL_PRELUDE}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read> C: array<f32>;
@group(0) @binding(4) var<storage, read> D: array<f32>;
@group(0) @binding(5) var<storage, read_write> Y: array<f32>;

var<workgroup> zs: array<f32, ${zFloats}>;
var<workgroup> ws: array<f32, ${zFloats}>;
var<workgroup> red: array<f32, ${threads * rows}>;

@compute @workgroup_size(${threads})
fn main(@builtin(local_invocation_index) lid: u32) {
  let b = pu(0u); let p = pu(1u); let q = pu(2u); let r = pu(3u);
  let n = b * q; let m = b * p; let br = b * r;
  let g = lid / ${FUSED_LANES}u;
  let lane = lid % ${FUSED_LANES}u;
  var acc: array<f32, ${rows}>;
  // z[t, j, k] = C[j, k, :] · x[t, j·q : (j+1)·q]
  for (var R0 = 0u; R0 < br; R0 += ${FUSED_GROUPS}u) {
    let R = R0 + g;
    let valid = R < br;
    let j = R / r;
    for (var t = 0u; t < ${rows}u; t++) { acc[t] = 0.0; }
    if (valid) {
      for (var c = lane; c < q; c += ${FUSED_LANES}u) {
        let w = C[R * q + c];
        for (var t = 0u; t < ${rows}u; t++) { acc[t] = fma(w, X[t * n + j * q + c], acc[t]); }
      }
    }${reduce('zs[t * br + R]')}
  }
  // w[t, i, k] = Σ_j D[i, j, k] · z[t, j, k]
  for (var e = lid; e < ${rows}u * br; e += ${threads}u) {
    let t = e / br;
    let i = (e / r) % b;
    let k = e % r;
    var s = 0.0;
    for (var j = 0u; j < b; j++) { s = fma(D[(i * b + j) * r + k], zs[t * br + j * r + k], s); }
    ws[e] = s;
  }
  workgroupBarrier();
  // y[t, i·p + row] = B[i, row, :] · w[t, i, :]
  for (var R0 = 0u; R0 < m; R0 += ${FUSED_GROUPS}u) {
    let R = R0 + g;
    let valid = R < m;
    let i = R / p;
    for (var t = 0u; t < ${rows}u; t++) { acc[t] = 0.0; }
    if (valid) {
      for (var k = lane; k < r; k += ${FUSED_LANES}u) {
        let w = B[R * r + k];
        for (var t = 0u; t < ${rows}u; t++) { acc[t] = fma(w, ws[t * br + i * r + k], acc[t]); }
      }
    }${reduce('Y[t * m + R]')}
  }
}
`,
  };
}

/** Whether the fused decode kernel takes this call, and the workgroup floats its z and w arrays need. */
function fusedDecodeFits(
  rt: Runtime,
  N: number,
  b: number,
  p: number,
  q: number,
  r: number,
): number | undefined {
  if (N > GEMV_MAX_ROWS || (b * p + b * q) * r > FUSED_MAX_FACTOR_FLOATS) return undefined;
  if (rt.maxInvocations < FUSED_GROUPS * FUSED_LANES) return undefined;
  // z and w sized by the next power of two, so a few pipelines serve every layer
  const zFloats = 2 ** Math.ceil(Math.log2(Math.max(1, N * b * r)));
  const bytes = (2 * zFloats + FUSED_GROUPS * FUSED_LANES * N) * 4;
  return bytes <= rt.maxWorkgroupBytes ? zFloats : undefined;
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
  const { b, p, q, r, N, transpose, inBlock, outBlock, nIn, nOut } = blastDims(
    x.shape,
    B.shape,
    C.shape,
    D.shape,
    options.transpose ?? false,
  );
  const y = rt.alloc([N, nOut], 'blastForward output');
  if (N * nOut === 0) return y;
  const fused = transpose ? undefined : fusedDecodeFits(rt, N, b, p, q, r);
  if (fused !== undefined) {
    rt.run(fusedDecodeProgram(N, fused), [b, p, q, r], [x, B, C, D, y], [1, 1, 1]);
    return y;
  }
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
