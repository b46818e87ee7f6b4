import { type AttentionOptions, attentionDims, type BackendTensor } from '@blastkit/core';
import {
  FLAT_GROUP,
  f32Bits,
  type GpuTensor,
  grid,
  type Program,
  type Runtime,
  WGSL_PRELUDE,
} from '../runtime.js';

const THREADS = 64;

/** `channels` = output channels per invocation (⌈headDim/64⌉), compiled in to size the accumulators. */
function program(channels: number): Program {
  return {
    key: `attention:channels=${channels}`,
    source: () => /* wgsl */ `${WGSL_PRELUDE}
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
var<workgroup> scores: array<f32, ${THREADS}>;

// One workgroup per (query, head). Keys go in chunks of ${THREADS}: each invocation scores one key, then all
// fold the chunk into a running (max, sum, accumulator) — online softmax, so any context length fits.
@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = ${FLAT_GROUP};
  let N = pu(0u); let hq = pu(1u); let d = pu(2u); let S = pu(3u); let hkv = pu(4u);
  let causal = pu(5u); let offset = bitcast<i32>(pu(6u)); let scale = pf(7u);
  if (g >= N * hq) { return; }
  let t = g / hq;
  let h = g % hq;
  let kvh = h / (hq / hkv);
  var visible = S;
  // a negative offset (queries before the first key) can leave a query no key: its output is then zero
  if (causal != 0u) { visible = u32(clamp(offset + i32(t) + 1, 0, i32(S))); }
  let qo = (t * hq + h) * d;
  var m = -FLT_MAX;
  var l = 0.0;
  var acc: array<f32, ${channels}>;
  for (var s0 = 0u; s0 < visible; s0 += ${THREADS}u) {
    let s = s0 + lid;
    var score = -FLT_MAX;
    if (s < visible) {
      let ko = (s * hkv + kvh) * d;
      var dot = 0.0;
      for (var c = 0u; c < d; c++) { dot += q[qo + c] * k[ko + c]; }
      score = dot * scale;
    }
    scores[lid] = score;
    workgroupBarrier();
    let count = min(${THREADS}u, visible - s0);
    var cm = m;
    for (var j = 0u; j < count; j++) { cm = max(cm, scores[j]); }
    let corr = exp(m - cm);
    l = l * corr;
    for (var c = 0u; c < ${channels}u; c++) { acc[c] = acc[c] * corr; }
    for (var j = 0u; j < count; j++) {
      let p = exp(scores[j] - cm);
      l += p;
      let vo = ((s0 + j) * hkv + kvh) * d;
      for (var c = 0u; c < ${channels}u; c++) {
        let ch = lid + c * ${THREADS}u;
        if (ch < d) { acc[c] += p * v[vo + ch]; }
      }
    }
    m = cm;
    workgroupBarrier();
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var c = 0u; c < ${channels}u; c++) {
    let ch = lid + c * ${THREADS}u;
    if (ch < d) { out[qo + ch] = acc[c] * inv; }
  }
}
`,
  };
}

/** Scaled dot-product attention with grouped-query heads, causal mask and query offset (see Backend). */
export function attention(
  rt: Runtime,
  qIn: BackendTensor,
  kIn: BackendTensor,
  vIn: BackendTensor,
  options: AttentionOptions,
): GpuTensor {
  const q = rt.tensor(qIn, 'attention q');
  const k = rt.tensor(kIn, 'attention k');
  const v = rt.tensor(vIn, 'attention v');
  const { N, hq, d, S, hkv } = attentionDims(q.shape, k.shape, v.shape);
  const scale = options.scale ?? 1 / Math.sqrt(d);
  const out = rt.alloc([N, hq, d], 'attention output');
  if (N * hq * d === 0) return out;
  const params = [N, hq, d, S, hkv, options.causal ? 1 : 0, options.queryOffset ?? 0, f32Bits(scale)];
  rt.run(program(Math.ceil(d / THREADS)), params, [q, k, v, out], grid(N * hq, rt.maxGroupsPerDim));
  return out;
}
