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
  key: 'layerNorm',
  source: () => /* wgsl */ `${WGSL_PRELUDE}${WORKGROUP_REDUCE}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${ROW_THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = ${FLAT_GROUP};
  if (row >= pu(0u)) { return; }
  let width = pu(1u);
  let off = row * width;
  var s = 0.0;
  for (var j = lid; j < width; j += ${ROW_THREADS}u) { s += x[off + j]; }
  let mean = wgSum(s, lid) / f32(width);
  // two passes (mean, then squared deviations) as the reference: one-pass variance cancels badly in f32
  var v = 0.0;
  for (var j = lid; j < width; j += ${ROW_THREADS}u) { let d = x[off + j] - mean; v += d * d; }
  let inv = inverseSqrt(wgSum(v, lid) / f32(width) + pf(2u));
  for (var j = lid; j < width; j += ${ROW_THREADS}u) {
    out[off + j] = (x[off + j] - mean) * inv * w[j] + bias[j];
  }
}
`,
};

/** LayerNorm over the last axis (biased variance, as PyTorch); one workgroup per row. */
export function layerNorm(
  rt: Runtime,
  xIn: BackendTensor,
  wIn: BackendTensor,
  bIn: BackendTensor,
  eps: number,
): GpuTensor {
  const x = rt.tensor(xIn, 'layerNorm x');
  const w = rt.tensor(wIn, 'layerNorm weight');
  const b = rt.tensor(bIn, 'layerNorm bias');
  const { rows, width } = rowsOf(x.shape, 'layerNorm');
  expectShape('layerNorm: weight', w.shape, [width]);
  expectShape('layerNorm: bias', b.shape, [width]);
  const out = rt.alloc(x.shape, 'layerNorm output');
  if (rows === 0) return out;
  rt.run(PROGRAM, [rows, width, f32Bits(eps)], [x, w, b, out], grid(rows, rt.maxGroupsPerDim));
  return out;
}
