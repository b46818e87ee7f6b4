import { type BackendTensor, cpuKernels, InvalidArgumentError, shapeSize } from '@blastkit/core';
import { FLAT_GROUP, type GpuTensor, grid, type Program, type Runtime, WGSL_PRELUDE } from '../runtime.js';

/** Broadcast shapes and strides travel in the parameter block: up to this many axes. */
export const MAX_RANK = 8;

export type BinaryOp = 'add' | 'sub' | 'mul';
const EXPR: Record<BinaryOp, string> = { add: 'x + y', sub: 'x - y', mul: 'x * y' };

function program(op: BinaryOp): Program {
  return {
    key: `binary:${op}`,
    source: () => /* wgsl */ `${WGSL_PRELUDE}
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = ${FLAT_GROUP} * 64u + lid;
  if (i >= pu(0u)) { return; }
  let rank = pu(1u);
  var rest = i;
  var ia = 0u;
  var ib = 0u;
  for (var d = 0u; d < rank; d++) {
    let axis = rank - 1u - d;
    let c = rest % pu(4u + axis);
    rest = rest / pu(4u + axis);
    ia += c * pu(12u + axis);
    ib += c * pu(20u + axis);
  }
  let x = a[ia];
  let y = b[ib];
  out[i] = ${EXPR[op]};
}
`,
  };
}

/** Element strides of `shape` seen through the broadcast to `outShape` (0 along broadcast axes). */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const o = outShape.length - shape.length + i;
    strides[o] = shape[i] === 1 ? 0 : s;
    s *= shape[i];
  }
  return strides;
}

function pad(xs: readonly number[]): number[] {
  return [...xs, ...new Array<number>(MAX_RANK - xs.length).fill(0)];
}

/** Broadcasting add/sub/mul (numpy rules); shapes and strides are uniforms, so one pipeline per op. */
export function binary(rt: Runtime, op: BinaryOp, aIn: BackendTensor, bIn: BackendTensor): GpuTensor {
  const a = rt.tensor(aIn, `${op} a`);
  const b = rt.tensor(bIn, `${op} b`);
  const shape = cpuKernels.broadcastShapes(a.shape, b.shape, op);
  if (shape.length > MAX_RANK) {
    throw new InvalidArgumentError(`${op}: rank ${shape.length} exceeds the WebGPU backend's ${MAX_RANK}`);
  }
  const out = rt.alloc(shape, `${op} output`);
  const size = shapeSize(shape);
  if (size === 0) return out;
  const params = [
    size,
    shape.length,
    0,
    0,
    ...pad(shape),
    ...pad(broadcastStrides(a.shape, shape)),
    ...pad(broadcastStrides(b.shape, shape)),
  ];
  rt.run(program(op), params, [a, b, out], grid(Math.ceil(size / 64), rt.maxGroupsPerDim));
  return out;
}
