import { InvalidArgumentError, shapeSize } from '@blastkit/core';
import { FLAT_GROUP, type GpuTensor, grid, type Program, type Runtime, WGSL_PRELUDE } from '../runtime.js';
import { MAX_RANK } from './binary.js';

const PROGRAM: Program = {
  key: 'strided-copy',
  source: () => /* wgsl */ `${WGSL_PRELUDE}
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = ${FLAT_GROUP} * 64u + lid;
  if (i >= pu(0u)) { return; }
  let rank = pu(1u);
  var rest = i;
  var s = pu(2u);
  var d = pu(3u);
  for (var k = 0u; k < rank; k++) {
    let axis = rank - 1u - k;
    let c = rest % pu(4u + axis);
    rest = rest / pu(4u + axis);
    s += c * pu(12u + axis);
    d += c * pu(20u + axis);
  }
  dst[d] = src[s];
}
`,
};

/** Contiguous (row-major) element strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export interface StridedView {
  offset: number;
  strides: readonly number[];
}

/**
 * dst[dstView(c)] = src[srcView(c)] for every coordinate c of `shape`: the one gather behind transpose,
 * slice, concat and Monarch's block permutation.
 */
export function stridedCopy(
  rt: Runtime,
  src: GpuTensor,
  srcView: StridedView,
  dst: GpuTensor,
  dstView: StridedView,
  shape: readonly number[],
): void {
  if (shape.length > MAX_RANK) {
    throw new InvalidArgumentError(`webgpu: rank ${shape.length} exceeds the WebGPU backend's ${MAX_RANK}`);
  }
  const size = shapeSize(shape);
  if (size === 0) return;
  const pad = (xs: readonly number[]) => [...xs, ...new Array<number>(MAX_RANK - xs.length).fill(0)];
  const params = [
    size,
    shape.length,
    srcView.offset,
    dstView.offset,
    ...pad(shape),
    ...pad(srcView.strides),
    ...pad(dstView.strides),
  ];
  rt.run(PROGRAM, params, [src, dst], grid(Math.ceil(size / 64), rt.maxGroupsPerDim));
}
