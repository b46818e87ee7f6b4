import { InvalidArgumentError, isSoftwareAdapter } from '@blastkit/core';
import { type BufferRange, type GpuTensor, type Program, type Runtime, WGSL_PRELUDE } from '../runtime.js';
import type { GemmTiling } from './gemm-tiling.js';

/** One strided operand of a GEMM: element (row, col) of op(X) sits at offset + batch·batchStride + … */
export interface GemmOperand {
  tensor: GpuTensor;
  /** Binds only this part of the tensor (see Runtime.rangeOf); `offset` then counts from its start. */
  range?: BufferRange;
  offset?: number;
  /** Distance between rows of the stored (untransposed) matrix. */
  ld: number;
  /** Distance between consecutive matrices of the batch; 0 broadcasts one matrix. */
  batchStride: number;
  transpose?: boolean;
}

export interface GemmArgs {
  M: number;
  N: number;
  K: number;
  batch: number;
  a: GemmOperand;
  b: GemmOperand;
  c: { tensor: GpuTensor; offset?: number; ld: number; batchStride: number };
  /** Added to every row of the output (length N). */
  bias?: GpuTensor;
}

/** Activations with at most this many rows go to the matrix-vector kernels (decode: N = 1 … 8). */
export const GEMV_MAX_ROWS = 8;

const tilingKey = (t: GemmTiling) => `${t.BM}x${t.BN}x${t.BK}/${t.TM}x${t.TN}`;

// Shared by every GEMM variant: the parameter words' layout.
const OPERAND_PARAMS = /* wgsl */ `
  let M = pu(0u); let N = pu(1u); let K = pu(2u);
  let aBase = pu(3u) + bz * pu(5u); let lda = pu(4u);
  let bBase = pu(6u) + bz * pu(8u); let ldb = pu(7u);
  let cBase = pu(9u) + bz * pu(11u); let ldc = pu(10u);`;

const bindings = (bias: boolean) => /* wgsl */ `
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
${bias ? '@group(0) @binding(3) var<storage, read> bias: array<f32>;' : ''}
@group(0) @binding(${bias ? 4 : 3}) var<storage, read_write> C: array<f32>;`;

// element (m, k) of op(A) and (k, n) of op(B)
const aIndex = (ta: boolean, m: string, k: string) => (ta ? `${k} * lda + ${m}` : `${m} * lda + ${k}`);
const bIndex = (tb: boolean, k: string, n: string) => (tb ? `${n} * ldb + ${k}` : `${k} * ldb + ${n}`);

function tiledProgram(t: GemmTiling, ta: boolean, tb: boolean, bias: boolean): Program {
  const { BM, BN, BK, TM, TN } = t;
  const TX = BN / TN;
  const TY = BM / TM;
  const threads = TX * TY;
  const SA = BM + 1;
  const SB = BN + 1;
  // Loads walk the tile so that consecutive invocations read consecutive addresses of the stored matrix.
  const loadA = ta ? { kk: `e / ${BM}u`, mm: `e % ${BM}u` } : { kk: `e % ${BK}u`, mm: `e / ${BK}u` };
  const loadB = tb ? { kk: `e % ${BK}u`, nn: `e / ${BK}u` } : { kk: `e / ${BN}u`, nn: `e % ${BN}u` };
  return {
    key: `gemm:${tilingKey(t)}:ta=${+ta}:tb=${+tb}:bias=${+bias}`,
    source: () => /* wgsl */ `${WGSL_PRELUDE}${bindings(bias)}

var<workgroup> tileA: array<f32, ${BK * SA}>;
var<workgroup> tileB: array<f32, ${BK * SB}>;

@compute @workgroup_size(${TX}, ${TY})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let bz = wid.z;${OPERAND_PARAMS}
  let row0 = wid.y * ${BM}u;
  let col0 = wid.x * ${BN}u;
  var acc: array<array<f32, ${TN}>, ${TM}>;
  var a: array<f32, ${TM}>;
  var b: array<f32, ${TN}>;
  for (var k0 = 0u; k0 < K; k0 += ${BK}u) {
    for (var s = 0u; s < ${(BM * BK) / threads}u; s++) {
      let e = li + s * ${threads}u;
      let kk = ${loadA.kk}; let mm = ${loadA.mm};
      let m = row0 + mm; let k = k0 + kk;
      var v = 0.0;
      if (m < M && k < K) { v = A[aBase + ${aIndex(ta, 'm', 'k')}]; }
      tileA[kk * ${SA}u + mm] = v;
    }
    for (var s = 0u; s < ${(BN * BK) / threads}u; s++) {
      let e = li + s * ${threads}u;
      let kk = ${loadB.kk}; let nn = ${loadB.nn};
      let n = col0 + nn; let k = k0 + kk;
      var v = 0.0;
      if (n < N && k < K) { v = B[bBase + ${bIndex(tb, 'k', 'n')}]; }
      tileB[kk * ${SB}u + nn] = v;
    }
    workgroupBarrier();
    for (var k = 0u; k < ${BK}u; k++) {
      for (var i = 0u; i < ${TM}u; i++) { a[i] = tileA[k * ${SA}u + lid.y + i * ${TY}u]; }
      for (var j = 0u; j < ${TN}u; j++) { b[j] = tileB[k * ${SB}u + lid.x + j * ${TX}u]; }
      for (var i = 0u; i < ${TM}u; i++) {
        for (var j = 0u; j < ${TN}u; j++) { acc[i][j] = fma(a[i], b[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var j = 0u; j < ${TN}u; j++) {
    let n = col0 + lid.x + j * ${TX}u;
    if (n >= N) { continue; }
    ${bias ? 'let bn = bias[n];' : 'let bn = 0.0;'}
    for (var i = 0u; i < ${TM}u; i++) {
      let m = row0 + lid.y + i * ${TY}u;
      if (m < M) { C[cBase + m * ldc + n] = acc[i][j] + bn; }
    }
  }
}
`,
  };
}

/** Lanes that share one output column of the row-wise matrix-vector kernel (a warp's worth of loads). */
const ROW_LANES = 32;
/** Output columns per workgroup of the row-wise kernel. */
const ROW_COLUMNS = 4;

/**
 * y = x·Bᵀ for a few rows x, with B stored row by row along k (linear weights, BLAST's factors): 32 lanes
 * read one row of B in coalesced strides and keep one partial sum per activation row; a tree in workgroup
 * memory adds the lanes. Memory-bound: B is read once, x from cache.
 */
function gemvRowsProgram(rows: number, ta: boolean, bias: boolean): Program {
  const threads = ROW_LANES * ROW_COLUMNS;
  return {
    key: `gemv-rows:m=${rows}:ta=${+ta}:bias=${+bias}`,
    source: () => /* wgsl */ `${WGSL_PRELUDE}${bindings(bias)}

var<workgroup> partial: array<f32, ${threads * rows}>;

@compute @workgroup_size(${ROW_LANES}, ${ROW_COLUMNS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let bz = wid.z;${OPERAND_PARAMS}
  let n = wid.x * ${ROW_COLUMNS}u + lid.y;
  var acc: array<f32, ${rows}>;
  if (n < N) {
    for (var k = lid.x; k < K; k += ${ROW_LANES}u) {
      let w = B[bBase + n * ldb + k];
      for (var m = 0u; m < ${rows}u; m++) { acc[m] = fma(A[aBase + ${aIndex(ta, 'm', 'k')}], w, acc[m]); }
    }
  }
  let slot = (lid.y * ${ROW_LANES}u + lid.x) * ${rows}u;
  for (var m = 0u; m < ${rows}u; m++) { partial[slot + m] = acc[m]; }
  for (var stride = ${ROW_LANES / 2}u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lid.x < stride) {
      for (var m = 0u; m < ${rows}u; m++) { partial[slot + m] += partial[slot + stride * ${rows}u + m]; }
    }
  }
  if (lid.x == 0u && n < N) {
    ${bias ? 'let bn = bias[n];' : 'let bn = 0.0;'}
    for (var m = 0u; m < M; m++) { C[cBase + m * ldc + n] = partial[slot + m] + bn; }
  }
}
`,
  };
}

/** Invocations per workgroup of the per-row kernel (within the 128 of compatibility-mode devices). */
const PER_ROW_THREADS = 64;

/**
 * The row-wise matrix-vector product without workgroup memory or barriers: one invocation walks one row of B
 * and writes one output column. On a software adapter (llvmpipe, SwiftShader) invocations are SIMD lanes of
 * a CPU thread and each barrier ends a vectorised section, so the cooperative kernel's five barriers per
 * workgroup cost more than its arithmetic (stories15M's 32000×288 head: ~1.1 s against ~90 ms in
 * SwiftShader). On a real GPU this layout reads B uncoalesced and the cooperative kernel stays the choice.
 * With `vec4`, A and B are read four floats at a time, kept as four partial sums per row, added at the end.
 */
function gemvPerRowProgram(rows: number, ta: boolean, bias: boolean, vec4: boolean): Program {
  const elt = vec4 ? 'vec4<f32>' : 'f32';
  const body = vec4
    ? /* wgsl */ `
    var acc: array<vec4<f32>, ${rows}>;
    let row = (bBase + n * ldb) / 4u;
    for (var q = 0u; q < K / 4u; q++) {
      let w = B[row + q];
      for (var m = 0u; m < ${rows}u; m++) { acc[m] = fma(A[(aBase + m * lda) / 4u + q], w, acc[m]); }
    }
    for (var m = 0u; m < ${rows}u; m++) {
      let s = acc[m];
      C[cBase + m * ldc + n] = (s.x + s.y) + (s.z + s.w) + bn;
    }`
    : /* wgsl */ `
    var acc: array<f32, ${rows}>;
    let row = bBase + n * ldb;
    for (var k = 0u; k < K; k++) {
      let w = B[row + k];
      for (var m = 0u; m < ${rows}u; m++) { acc[m] = fma(A[aBase + ${aIndex(ta, 'm', 'k')}], w, acc[m]); }
    }
    for (var m = 0u; m < ${rows}u; m++) { C[cBase + m * ldc + n] = acc[m] + bn; }`;
  return {
    key: `gemv-per-row:m=${rows}:ta=${+ta}:bias=${+bias}:vec4=${+vec4}`,
    source: () => /* wgsl */ `${WGSL_PRELUDE}
@group(0) @binding(1) var<storage, read> A: array<${elt}>;
@group(0) @binding(2) var<storage, read> B: array<${elt}>;
${bias ? '@group(0) @binding(3) var<storage, read> bias: array<f32>;' : ''}
@group(0) @binding(${bias ? 4 : 3}) var<storage, read_write> C: array<f32>;

@compute @workgroup_size(${PER_ROW_THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let bz = wid.z;${OPERAND_PARAMS}
  let n = wid.x * ${PER_ROW_THREADS}u + li;
  if (n < N) {
    ${bias ? 'let bn = bias[n];' : 'let bn = 0.0;'}${body}
  }
}
`,
  };
}

/** Which row-wise matrix-vector kernel runs: `cooperative` (lanes + barriers) or `rows` (one row each). */
export type GemvVariant = 'rows' | 'cooperative';

/**
 * `rows` on a software adapter, `cooperative` on a GPU; BLASTKIT_WEBGPU_GEMV=rows|cooperative overrides it
 * (read per call, so a test or benchmark can run both variants on one adapter).
 */
export function gemvVariant(rt: Runtime): GemvVariant {
  const forced = globalThis.process?.env?.BLASTKIT_WEBGPU_GEMV;
  if (forced === 'rows' || forced === 'cooperative') return forced;
  if (forced) {
    throw new InvalidArgumentError(`BLASTKIT_WEBGPU_GEMV must be 'rows' or 'cooperative', got '${forced}'`);
  }
  return isSoftwareAdapter(rt.adapter) ? 'rows' : 'cooperative';
}

/** Whether an operand can be bound as vec4s: every element the kernel reads sits 4-aligned along k. */
const vec4Operand = (o: GemmOperand) =>
  o.ld % 4 === 0 &&
  (o.offset ?? 0) % 4 === 0 &&
  o.batchStride % 4 === 0 &&
  (o.range ? o.range.byteSize : o.tensor.buffer.size) % 16 === 0;

/** Output columns and k-lanes per workgroup of the column-wise kernel. */
const COL_COLUMNS = 32;
const COL_LANES = 4;
/** The column-wise kernel splits k over workgroups in slices of about this length… */
const COL_SLICE = 512;
/** …into at most this many partial results, added by a second pass. */
const COL_MAX_SPLITS = 16;

/**
 * y = x·B for a few rows x, with B stored row by row along n (k-major): consecutive invocations read
 * consecutive columns of one row of B; k is split over 4 lanes in a workgroup and over up to 16 slices
 * across workgroups, whose partial sums a second pass adds (there are no float atomics in WGSL).
 */
function gemvColsProgram(rows: number, ta: boolean): Program {
  const threads = COL_COLUMNS * COL_LANES;
  return {
    key: `gemv-cols:m=${rows}:ta=${+ta}`,
    source: () => /* wgsl */ `${WGSL_PRELUDE}
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> P: array<f32>;

var<workgroup> partial: array<f32, ${threads * rows}>;

// P[split, batch, m, n]: this workgroup's slice of k for columns [wid.x·32, +32) of batch wid.z
@compute @workgroup_size(${COL_COLUMNS}, ${COL_LANES})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let bz = wid.z;${OPERAND_PARAMS}
  let slice = pu(12u);
  let n = wid.x * ${COL_COLUMNS}u + lid.x;
  let kEnd = min(K, (wid.y + 1u) * slice);
  var acc: array<f32, ${rows}>;
  if (n < N) {
    for (var k = wid.y * slice + lid.y; k < kEnd; k += ${COL_LANES}u) {
      let w = B[bBase + k * ldb + n];
      for (var m = 0u; m < ${rows}u; m++) { acc[m] = fma(A[aBase + ${aIndex(ta, 'm', 'k')}], w, acc[m]); }
    }
  }
  let slot = (lid.y * ${COL_COLUMNS}u + lid.x) * ${rows}u;
  for (var m = 0u; m < ${rows}u; m++) { partial[slot + m] = acc[m]; }
  workgroupBarrier();
  if (lid.y == 0u && n < N) {
    for (var m = 0u; m < M; m++) {
      var s = 0.0;
      for (var l = 0u; l < ${COL_LANES}u; l++) { s += partial[(l * ${COL_COLUMNS}u + lid.x) * ${rows}u + m]; }
      P[((wid.y * nwg.z + bz) * M + m) * N + n] = s;
    }
  }
}
`,
  };
}

function splitsSumProgram(bias: boolean): Program {
  return {
    key: `gemv-splits-sum:bias=${+bias}`,
    source: () => /* wgsl */ `${WGSL_PRELUDE}
@group(0) @binding(1) var<storage, read> P: array<f32>;
${bias ? '@group(0) @binding(2) var<storage, read> bias: array<f32>;' : ''}
@group(0) @binding(${bias ? 3 : 2}) var<storage, read_write> C: array<f32>;

// C[batch, m, n] (strided) = Σ_split P[split, batch, m, n] + bias[n]
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let M = pu(0u); let N = pu(1u); let splits = pu(2u); let batch = pu(3u);
  let cOffset = pu(4u); let ldc = pu(5u); let cStride = pu(6u);
  let n = wid.x * 64u + li;
  let m = wid.y;
  let bz = wid.z;
  if (n >= N) { return; }
  var s = ${bias ? 'bias[n]' : '0.0'};
  for (var p = 0u; p < splits; p++) { s += P[((p * batch + bz) * M + m) * N + n]; }
  C[cOffset + bz * cStride + m * ldc + n] = s;
}
`,
  };
}

const operandBinding = (o: GemmOperand) => o.range ?? o.tensor;

/**
 * C = op(A)·op(B) (+ bias) over a batch, all three as strided views of storage buffers. The one GEMM behind
 * matmul, linear and the structured forwards: their block products are strided batches of it. Up to 8 rows
 * of op(A) go to the matrix-vector kernels (memory-bound decode), more to the register-tiled GEMM.
 */
export function gemm(rt: Runtime, args: GemmArgs): void {
  const { M, N, K, batch, a, b, c, bias } = args;
  if (M === 0 || N === 0 || batch === 0) return;
  if (batch > rt.maxGroupsPerDim) {
    throw new InvalidArgumentError(`webgpu gemm: batch of ${batch} exceeds ${rt.maxGroupsPerDim}`);
  }
  const ta = a.transpose ?? false;
  const tb = b.transpose ?? false;
  const params = [
    M,
    N,
    K,
    a.offset ?? 0,
    a.ld,
    a.batchStride,
    b.offset ?? 0,
    b.ld,
    b.batchStride,
    c.offset ?? 0,
    c.ld,
    c.batchStride,
  ];
  const inputs = [operandBinding(a), operandBinding(b)];
  const withBias = bias ? [...inputs, bias, c.tensor] : [...inputs, c.tensor];
  if (M <= GEMV_MAX_ROWS && tb && gemvVariant(rt) === 'rows') {
    const vec4 = !ta && K % 4 === 0 && vec4Operand(a) && vec4Operand(b);
    rt.run(gemvPerRowProgram(M, ta, bias !== undefined, vec4), params, withBias, [
      Math.ceil(N / PER_ROW_THREADS),
      1,
      batch,
    ]);
    return;
  }
  if (M <= GEMV_MAX_ROWS && tb) {
    rt.run(gemvRowsProgram(M, ta, bias !== undefined), params, withBias, [
      Math.ceil(N / ROW_COLUMNS),
      1,
      batch,
    ]);
    return;
  }
  if (M <= GEMV_MAX_ROWS) {
    const splits = Math.max(1, Math.min(COL_MAX_SPLITS, Math.ceil(K / COL_SLICE)));
    const slice = Math.ceil(K / splits);
    const P = rt.alloc([splits, batch, M, N], 'gemv partial sums');
    rt.run(
      gemvColsProgram(M, ta),
      [...params, slice],
      [...inputs, P],
      [Math.ceil(N / COL_COLUMNS), splits, batch],
    );
    const sumParams = [M, N, splits, batch, c.offset ?? 0, c.ld, c.batchStride];
    rt.run(splitsSumProgram(bias !== undefined), sumParams, bias ? [P, bias, c.tensor] : [P, c.tensor], [
      Math.ceil(N / 64),
      M,
      batch,
    ]);
    rt.release(P);
    return;
  }
  const t = rt.gemmTiling;
  rt.run(tiledProgram(t, ta, tb, bias !== undefined), params, withBias, [
    Math.ceil(N / t.BN),
    Math.ceil(M / t.BM),
    batch,
  ]);
}
