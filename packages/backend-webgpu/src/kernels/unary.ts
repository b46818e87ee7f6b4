import { type BackendTensor, InvalidArgumentError, UNARY_OPS, type UnaryOp } from '@blastkit/core';
import { FLAT_GROUP, type GpuTensor, grid, type Program, type Runtime, WGSL_PRELUDE } from '../runtime.js';

// tanh through exp(-2|x|): the built-in may overflow to NaN for large |x| on some drivers (GLSL leaves it
// unspecified). erf has no WGSL built-in: Abramowitz–Stegun 7.1.26, |error| < 1.5e-7, below f32 noise here.
const HELPERS = /* wgsl */ `
fn safeTanh(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}
fn erf(x: f32) -> f32 {
  let ax = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * ax);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-ax * ax));
}
`;

const EXPR: Record<UnaryOp, string> = {
  silu: 'v / (1.0 + exp(-v))',
  gelu: '0.5 * v * (1.0 + erf(v * 0.7071067811865476))',
  gelu_tanh: '0.5 * v * (1.0 + safeTanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))',
  relu: 'max(v, 0.0)',
  sigmoid: '1.0 / (1.0 + exp(-v))',
  tanh: 'safeTanh(v)',
  exp: 'exp(v)',
  neg: '-v',
  sqrt: 'sqrt(v)',
  square: 'v * v',
  abs: 'abs(v)',
};

function program(op: UnaryOp): Program {
  return {
    key: `unary:${op}`,
    source: () => /* wgsl */ `${WGSL_PRELUDE}${HELPERS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = ${FLAT_GROUP} * 64u + lid;
  if (i >= pu(0u)) { return; }
  let v = x[i];
  out[i] = ${EXPR[op]};
}
`,
  };
}

/** One elementwise function per pipeline (the op is compiled in). */
export function unary(rt: Runtime, xIn: BackendTensor, op: UnaryOp): GpuTensor {
  if (!UNARY_OPS.includes(op)) {
    throw new InvalidArgumentError(`unary: unknown op '${op}', expected one of ${UNARY_OPS.join(', ')}`);
  }
  const x = rt.tensor(xIn, `${op} input`);
  const out = rt.alloc(x.shape, `${op} output`);
  if (x.size === 0) return out;
  rt.run(program(op), [x.size], [x, out], grid(Math.ceil(x.size / 64), rt.maxGroupsPerDim));
  return out;
}
