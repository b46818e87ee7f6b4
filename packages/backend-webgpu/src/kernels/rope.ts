import { type BackendTensor, cpuKernels, type RopeOptions, ropeDims } from '@blastkit/core';
import { FLAT_GROUP, type GpuTensor, grid, type Program, type Runtime, WGSL_PRELUDE } from '../runtime.js';

function program(interleaved: boolean): Program {
  // each invocation writes one entry; its partner in the rotated pair is read, not written
  const rotate = interleaved
    ? `let i = c / 2u;
    let cs = table[(t * half + i) * 2u];
    let sn = table[(t * half + i) * 2u + 1u];
    let x0 = x[base + 2u * i];
    let x1 = x[base + 2u * i + 1u];
    if (c % 2u == 0u) { out[base + c] = x0 * cs - x1 * sn; } else { out[base + c] = x1 * cs + x0 * sn; }`
    : `let i = select(c - half, c, c < half);
    let cs = table[(t * half + i) * 2u];
    let sn = table[(t * half + i) * 2u + 1u];
    let x0 = x[base + i];
    let x1 = x[base + i + half];
    if (c < half) { out[base + c] = x0 * cs - x1 * sn; } else { out[base + c] = x1 * cs + x0 * sn; }`;
  return {
    key: `rope:interleaved=${+interleaved}`,
    source: () => /* wgsl */ `${WGSL_PRELUDE}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let e = ${FLAT_GROUP} * 64u + lid;
  if (e >= pu(0u)) { return; }
  let heads = pu(1u);
  let d = pu(2u);
  let half = pu(3u);
  let c = e % d;
  let row = e / d;
  let t = row / heads;
  let base = row * d;
  if (c >= 2u * half) {
    out[e] = x[e];
  } else {
    ${rotate}
  }
}
`,
  };
}

/**
 * Rotary embedding of x [N, heads, headDim]. The cos/sin table is computed on the host in float64 for the
 * given positions (N·rotaryDim/2 pairs, small) so large positions keep their accuracy: f32 angles lose
 * digits past a few hundred.
 */
export function rope(
  rt: Runtime,
  xIn: BackendTensor,
  positions: Int32Array,
  options: RopeOptions,
): GpuTensor {
  const x = rt.tensor(xIn, 'rope x');
  const { N, heads, d, rd, half } = ropeDims(x.shape, positions.length, options.rotaryDim);
  const inv = cpuKernels.ropeInvFrequencies(options, rd);
  const scalePos = options.positionScale ?? 1;
  const table = new Float32Array(N * half * 2);
  for (let t = 0; t < N; t++) {
    const pos = positions[t] * scalePos;
    for (let i = 0; i < half; i++) {
      table[(t * half + i) * 2] = Math.cos(pos * inv[i]);
      table[(t * half + i) * 2 + 1] = Math.sin(pos * inv[i]);
    }
  }
  const out = rt.alloc(x.shape, 'rope output');
  if (x.size === 0) return out;
  const tableT = rt.alloc([N, half, 2], 'rope cos/sin table');
  rt.write(tableT, table);
  rt.run(
    program(options.interleaved ?? false),
    [x.size, heads, d, half],
    [x, tableT, out],
    grid(Math.ceil(x.size / 64), rt.maxGroupsPerDim),
  );
  rt.release(tableT);
  return out;
}
