import type { BackendTensor } from '@blastkit/core';
import {
  FLAT_GROUP,
  f32Bits,
  type GpuTensor,
  grid,
  type Program,
  type Runtime,
  WGSL_PRELUDE,
} from '../runtime.js';

const PROGRAM: Program = {
  key: 'scale',
  source: () => /* wgsl */ `${WGSL_PRELUDE}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = ${FLAT_GROUP} * 64u + lid;
  if (i >= pu(0u)) { return; }
  out[i] = x[i] * pf(1u) + pf(2u);
}
`,
};

/** a·alpha + beta, alpha and beta as uniforms. */
export function scale(rt: Runtime, aIn: BackendTensor, alpha: number, beta = 0): GpuTensor {
  const a = rt.tensor(aIn, 'scale input');
  const out = rt.alloc(a.shape, 'scale output');
  if (a.size === 0) return out;
  rt.run(
    PROGRAM,
    [a.size, f32Bits(alpha), f32Bits(beta)],
    [a, out],
    grid(Math.ceil(a.size / 64), rt.maxGroupsPerDim),
  );
  return out;
}
