import {
  type BackendTensor,
  InvalidArgumentError,
  REDUCE_OPS,
  type ReduceOp,
  shapeSize,
} from '@blastkit/core';
import { FLAT_GROUP, type GpuTensor, grid, type Program, type Runtime, WGSL_PRELUDE } from '../runtime.js';
import { ROW_THREADS, WORKGROUP_REDUCE } from './workgroup-reduce.js';

const INIT: Record<ReduceOp, string> = {
  sum: '0.0',
  mean: '0.0',
  sumsq: '0.0',
  max: '-FLT_MAX',
  min: 'FLT_MAX',
};
const STEP: Record<ReduceOp, string> = {
  sum: 'acc + v',
  mean: 'acc + v',
  sumsq: 'acc + v * v',
  max: 'max(acc, v)',
  min: 'min(acc, v)',
};
const COMBINE: Record<ReduceOp, string> = {
  sum: 'wgSum',
  mean: 'wgSum',
  sumsq: 'wgSum',
  max: 'wgMax',
  min: 'wgMin',
};

function program(op: ReduceOp): Program {
  return {
    key: `reduce:${op}`,
    source: () => /* wgsl */ `${WGSL_PRELUDE}${WORKGROUP_REDUCE}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${ROW_THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let o = ${FLAT_GROUP};
  let len = pu(1u);
  let inner = pu(2u);
  if (o >= pu(0u)) { return; }
  let base = (o / inner) * len * inner + o % inner;
  var acc = ${INIT[op]};
  for (var k = lid; k < len; k += ${ROW_THREADS}u) {
    let v = x[base + k * inner];
    acc = ${STEP[op]};
  }
  let r = ${COMBINE[op]}(acc, lid);
  if (lid == 0u) { out[o] = ${op === 'mean' ? 'r / f32(len)' : 'r'}; }
}
`,
  };
}

/** Reduces one axis, or everything; one workgroup per output entry. */
export function reduce(rt: Runtime, xIn: BackendTensor, op: ReduceOp, axis?: number): GpuTensor {
  if (!REDUCE_OPS.includes(op)) {
    throw new InvalidArgumentError(`reduce: unknown op '${op}', expected one of ${REDUCE_OPS.join(', ')}`);
  }
  const x = rt.tensor(xIn, `${op} input`);
  const rank = x.shape.length;
  let len: number;
  let inner: number;
  let outShape: number[];
  if (axis === undefined) {
    len = x.size;
    inner = 1;
    outShape = [];
  } else {
    const ax = axis < 0 ? axis + rank : axis;
    if (!Number.isInteger(ax) || ax < 0 || ax >= rank) {
      throw new InvalidArgumentError(`reduce: axis ${axis} out of range for rank ${rank}`);
    }
    len = x.shape[ax];
    inner = shapeSize(x.shape.slice(ax + 1));
    outShape = x.shape.filter((_, i) => i !== ax);
  }
  if (len === 0 && (op === 'max' || op === 'min'))
    throw new InvalidArgumentError(`reduce: ${op} of an empty axis`);
  const out = rt.alloc(outShape, `${op} output`);
  const outputs = shapeSize(outShape);
  if (outputs === 0) return out;
  rt.run(program(op), [outputs, len, Math.max(inner, 1)], [x, out], grid(outputs, rt.maxGroupsPerDim));
  return out;
}
