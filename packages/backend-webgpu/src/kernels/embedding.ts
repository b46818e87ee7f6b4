import { type BackendTensor, formatShape, ShapeError } from '@blastkit/core';
import { FLAT_GROUP, type GpuTensor, grid, type Program, type Runtime, WGSL_PRELUDE } from '../runtime.js';

const PROGRAM: Program = {
  key: 'embedding',
  source: () => /* wgsl */ `${WGSL_PRELUDE}
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let e = ${FLAT_GROUP} * 64u + lid;
  if (e >= pu(0u)) { return; }
  let d = pu(1u);
  out[e] = table[ids[e / d] * d + e % d];
}
`,
};

/**
 * Rows of table [V, d] for the ids; ids are checked on the host, where they already are. A table past the
 * storage-binding cap (a large vocabulary) is gathered with one buffer copy per id instead of the kernel.
 */
export function embedding(rt: Runtime, tableIn: BackendTensor, ids: Int32Array): GpuTensor {
  const table = rt.tensor(tableIn, 'embedding table');
  if (table.shape.length !== 2) {
    throw new ShapeError(`embedding: table has shape ${formatShape(table.shape)}, expected [V,d]`);
  }
  const [V, d] = table.shape;
  ids.forEach((id, t) => {
    if (id < 0 || id >= V)
      throw new RangeError(`embedding: id ${id} at position ${t} is outside the vocabulary [0, ${V})`);
  });
  const out = rt.alloc([ids.length, d], 'embedding output');
  const size = ids.length * d;
  if (size === 0) return out;
  if (table.size * 4 > rt.maxBindingBytes) {
    // a table past the binding cap is read row by row with copies, which no binding limit applies to
    ids.forEach((id, t) => {
      rt.copy(table, id * d, out, t * d, d);
    });
    return out;
  }
  const idsT = rt.alloc([ids.length], 'embedding ids');
  rt.write(idsT, Uint32Array.from(ids));
  rt.run(PROGRAM, [size, d], [table, idsT, out], grid(Math.ceil(size / 64), rt.maxGroupsPerDim));
  rt.release(idsT);
  return out;
}
