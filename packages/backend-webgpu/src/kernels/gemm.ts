import { InvalidArgumentError } from '@blastkit/core';
import { type GpuTensor, type Program, type Runtime, WGSL_PRELUDE } from '../runtime.js';

/** Output tile edge. */
const TILE = 16;
/** Output rows per invocation: the workgroup is 16×(16/ROWS) invocations, within compat's 128. */
const ROWS = 4;
const THREAD_ROWS = TILE / ROWS;

/** One strided operand of a GEMM: element (row, col) of op(X) sits at offset + batch·batchStride + … */
export interface GemmOperand {
  tensor: GpuTensor;
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

function program(ta: boolean, tb: boolean, bias: boolean): Program {
  return {
    key: `gemm:ta=${+ta}:tb=${+tb}:bias=${+bias}`,
    source: () => /* wgsl */ `${WGSL_PRELUDE}
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
${bias ? '@group(0) @binding(3) var<storage, read> bias: array<f32>;' : ''}
@group(0) @binding(${bias ? 4 : 3}) var<storage, read_write> C: array<f32>;

// padded by one column so transposed reads do not hit the same bank
var<workgroup> tileA: array<array<f32, ${TILE + 1}>, ${TILE}>;
var<workgroup> tileB: array<array<f32, ${TILE + 1}>, ${TILE}>;

@compute @workgroup_size(${TILE}, ${THREAD_ROWS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = pu(0u); let N = pu(1u); let K = pu(2u);
  let aBase = pu(3u) + wid.z * pu(5u); let lda = pu(4u);
  let bBase = pu(6u) + wid.z * pu(8u); let ldb = pu(7u);
  let cBase = pu(9u) + wid.z * pu(11u); let ldc = pu(10u);
  let row0 = wid.y * ${TILE}u;
  let col0 = wid.x * ${TILE}u;
  let tx = lid.x;
  let ty = lid.y;
  var acc: array<f32, ${ROWS}>;
  for (var k0 = 0u; k0 < K; k0 += ${TILE}u) {
    for (var h = 0u; h < ${ROWS}u; h++) {
      let i = ty + h * ${THREAD_ROWS}u;
      let m = row0 + i;
      let ka = k0 + tx;
      var va = 0.0;
      if (m < M && ka < K) { va = A[aBase + ${ta ? 'ka * lda + m' : 'm * lda + ka'}]; }
      tileA[i][tx] = va;
      let kb = k0 + i;
      let n = col0 + tx;
      var vb = 0.0;
      if (kb < K && n < N) { vb = B[bBase + ${tb ? 'n * ldb + kb' : 'kb * ldb + n'}]; }
      tileB[i][tx] = vb;
    }
    workgroupBarrier();
    for (var k = 0u; k < ${TILE}u; k++) {
      let bv = tileB[k][tx];
      for (var h = 0u; h < ${ROWS}u; h++) { acc[h] += tileA[ty + h * ${THREAD_ROWS}u][k] * bv; }
    }
    workgroupBarrier();
  }
  let n = col0 + tx;
  if (n < N) {
    ${bias ? 'let bn = bias[n];' : 'let bn = 0.0;'}
    for (var h = 0u; h < ${ROWS}u; h++) {
      let m = row0 + ty + h * ${THREAD_ROWS}u;
      if (m < M) { C[cBase + m * ldc + n] = acc[h] + bn; }
    }
  }
}
`,
  };
}

/**
 * C = op(A)·op(B) (+ bias) over a batch, all three as strided views of storage buffers. The one GEMM behind
 * matmul, linear and the structured forwards: their block products are strided batches of it.
 */
export function gemm(rt: Runtime, args: GemmArgs): void {
  const { M, N, K, batch, a, b, c, bias } = args;
  if (batch > rt.maxGroupsPerDim) {
    throw new InvalidArgumentError(`webgpu gemm: batch of ${batch} exceeds ${rt.maxGroupsPerDim}`);
  }
  const prog = program(a.transpose ?? false, b.transpose ?? false, bias !== undefined);
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
  const buffers = bias ? [a.tensor, b.tensor, bias, c.tensor] : [a.tensor, b.tensor, c.tensor];
  rt.run(prog, params, buffers, [Math.ceil(N / TILE), Math.ceil(M / TILE), batch]);
}
