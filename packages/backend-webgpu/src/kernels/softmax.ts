import type { BackendTensor } from '@blastkit/core';
import { FLAT_GROUP, type GpuTensor, grid, type Program, type Runtime, WGSL_PRELUDE } from '../runtime.js';
import { ROW_THREADS, rowsOf, WORKGROUP_REDUCE } from './workgroup-reduce.js';

const PROGRAM: Program = {
  key: 'softmax',
  source: () => /* wgsl */ `${WGSL_PRELUDE}${WORKGROUP_REDUCE}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${ROW_THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = ${FLAT_GROUP};
  if (row >= pu(0u)) { return; }
  let width = pu(1u);
  let off = row * width;
  var m = -FLT_MAX;
  for (var j = lid; j < width; j += ${ROW_THREADS}u) { m = max(m, x[off + j]); }
  m = wgMax(m, lid);
  var s = 0.0;
  for (var j = lid; j < width; j += ${ROW_THREADS}u) {
    let e = exp(x[off + j] - m);
    out[off + j] = e;
    s += e;
  }
  let inv = 1.0 / wgSum(s, lid);
  for (var j = lid; j < width; j += ${ROW_THREADS}u) { out[off + j] = out[off + j] * inv; }
}
`,
};

/** Softmax over the last axis, max-subtracted; one workgroup per row. */
export function softmax(rt: Runtime, xIn: BackendTensor): GpuTensor {
  const x = rt.tensor(xIn, 'softmax input');
  const { rows, width } = rowsOf(x.shape, 'softmax');
  const out = rt.alloc(x.shape, 'softmax output');
  if (rows === 0) return out;
  rt.run(PROGRAM, [rows, width], [x, out], grid(rows, rt.maxGroupsPerDim));
  return out;
}
