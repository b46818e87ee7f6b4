import { type BackendTensor, expectShape } from '@blastkit/core';
import {
  FLAT_GROUP,
  f32Bits,
  type GpuTensor,
  grid,
  type Program,
  type Runtime,
  WGSL_PRELUDE,
} from '../runtime.js';
import { ROW_THREADS, rowsOf, WORKGROUP_REDUCE } from './workgroup-reduce.js';

const PROGRAM: Program = {
  key: 'rmsNorm',
  source: () => /* wgsl */ `${WGSL_PRELUDE}${WORKGROUP_REDUCE}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${ROW_THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = ${FLAT_GROUP};
  if (row >= pu(0u)) { return; }
  let width = pu(1u);
  let off = row * width;
  var ss = 0.0;
  for (var j = lid; j < width; j += ${ROW_THREADS}u) { let v = x[off + j]; ss += v * v; }
  let inv = inverseSqrt(wgSum(ss, lid) / f32(width) + pf(2u));
  for (var j = lid; j < width; j += ${ROW_THREADS}u) { out[off + j] = x[off + j] * inv * w[j]; }
}
`,
};

/** Llama's RMSNorm over the last axis; one workgroup per row. */
export function rmsNorm(rt: Runtime, xIn: BackendTensor, wIn: BackendTensor, eps: number): GpuTensor {
  const x = rt.tensor(xIn, 'rmsNorm x');
  const w = rt.tensor(wIn, 'rmsNorm weight');
  const { rows, width } = rowsOf(x.shape, 'rmsNorm');
  expectShape('rmsNorm: weight', w.shape, [width]);
  const out = rt.alloc(x.shape, 'rmsNorm output');
  if (rows === 0) return out;
  rt.run(PROGRAM, [rows, width, f32Bits(eps)], [x, w, out], grid(rows, rt.maxGroupsPerDim));
  return out;
}
