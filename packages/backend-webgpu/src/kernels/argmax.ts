import { type BackendTensor, InvalidArgumentError } from '@blastkit/core';
import { FLAT_GROUP, type GpuTensor, grid, type Program, type Runtime, WGSL_PRELUDE } from '../runtime.js';
import { ROW_THREADS, rowsOf } from './workgroup-reduce.js';

const PROGRAM: Program = {
  key: 'argmax',
  source: () => /* wgsl */ `${WGSL_PRELUDE}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
var<workgroup> bestV: array<f32, ${ROW_THREADS}>;
var<workgroup> bestI: array<u32, ${ROW_THREADS}>;

@compute @workgroup_size(${ROW_THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = ${FLAT_GROUP};
  if (row >= pu(0u)) { return; }
  let width = pu(1u);
  let off = row * width;
  var v = -FLT_MAX;
  var idx = 0xffffffffu;
  for (var j = lid; j < width; j += ${ROW_THREADS}u) {
    let e = x[off + j];
    if (idx == 0xffffffffu || e > v) { v = e; idx = j; }
  }
  bestV[lid] = v;
  bestI[lid] = idx;
  workgroupBarrier();
  for (var s = ${ROW_THREADS / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      let ov = bestV[lid + s];
      let oi = bestI[lid + s];
      // the larger value wins; on ties the first index, as the reference
      if (oi != 0xffffffffu && (bestI[lid] == 0xffffffffu || ov > bestV[lid] || (ov == bestV[lid] && oi < bestI[lid]))) {
        bestV[lid] = ov;
        bestI[lid] = oi;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { out[row] = f32(bestI[0]); }
}
`,
};

/** Index of the largest entry along the last axis (first on ties), as float32; one workgroup per row. */
export function argmax(rt: Runtime, xIn: BackendTensor): GpuTensor {
  const x = rt.tensor(xIn, 'argmax input');
  const { rows, width } = rowsOf(x.shape, 'argmax');
  if (width === 0) throw new InvalidArgumentError('argmax: empty last axis');
  const out = rt.alloc(x.shape.slice(0, -1), 'argmax output');
  if (rows === 0) return out;
  rt.run(PROGRAM, [rows, width], [x, out], grid(rows, rt.maxGroupsPerDim));
  return out;
}
