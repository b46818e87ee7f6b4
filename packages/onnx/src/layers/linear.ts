import {
  BlastMatrix,
  BlockDiagonalMatrix,
  DenseMatrix,
  LowRankMatrix,
  MonarchMatrix,
  type StructuredMatrix,
  type Tensor,
} from '@blastkit/core';
import type { GraphBuilder } from '../graph/graph-builder.js';
import { type WeightData, type WeightDtype, weightMatMul, weightValue } from './quantize.js';

/**
 * How BLAST's mixing step w_i = Σ_j s_ij ⊙ z_j is written in ONNX (method.md §1, step 2):
 * - `matmul`: for each rank k one b×b matrix, a batched MatMul [r, b, b]·[r, b, N] between two Transposes;
 * - `mul-reducesum`: the reference's broadcast product [b, b, N, r] summed over j (materialises b²·N·r);
 * - `einsum`: `jtk,ijk->itk`, left to the runtime;
 * - `by-length`: an `If` on the number of tokens: one token (decode) takes a path with no transposes (the
 *   block views are Reshapes, mixing by Mul + ReduceSum over [b, b, 1, r], U applied from the left so that
 *   onnxruntime's single-row GEMM streams the long dimension), more tokens take the `matmul` path with U also
 *   from the left; both read the same initializers.
 */
export const BLAST_MIXINGS = ['matmul', 'mul-reducesum', 'einsum', 'by-length'] as const;
export type BlastMixing = (typeof BLAST_MIXINGS)[number];

/**
 * The mixing written when none is asked for. `by-length`: in the `onnx-cpu` bench suite (onnxruntime-node,
 * CPU, 4096² b = 16 r = 1024) it is the fastest at N = 1 (its decode path) and ties `matmul` at N = 256 (the
 * same path but for U); `mul-reducesum` materialises b²·N·r floats, so it cannot serve long prompts. Figures
 * in this package's README.
 */
export const DEFAULT_BLAST_MIXING: BlastMixing = 'by-length';

/** How linears are written. */
export interface LinearOptions {
  /** BLAST mixing formulation (default {@link DEFAULT_BLAST_MIXING}). */
  mixing?: BlastMixing;
  /** Storage of the weight matrices (default fp32). */
  dtype?: WeightDtype;
}

/** A linear's input and where its output's leading dimensions come from. */
export interface LinearInput {
  /** The activations [..., n]. */
  x: string;
  /** An int64 1-D value holding the leading dimensions of `x` (e.g. [batch, seq]); the output is [..., m]. */
  lead: string;
}

/**
 * y = A·x (x [..., n] → y [..., m]) for a dense weight [m, n] or any structured matrix, as standard ONNX ops:
 * the structure stays in the graph (factors as initializers, never multiplied out). `name` prefixes the
 * initializers (the module name, e.g. `model.layers.0.self_attn.q_proj`).
 */
export function emitLinear(
  g: GraphBuilder,
  input: LinearInput,
  weight: StructuredMatrix | Tensor,
  name: string,
  options: LinearOptions = {},
): string {
  const dtype = options.dtype ?? 'fp32';
  if (!('kind' in weight)) return weightMatMul(g, input.x, transpose2d(weight), `${name}.weight`, dtype);
  if (weight instanceof DenseMatrix)
    return weightMatMul(g, input.x, transpose2d(weight.weight), `${name}.weight`, dtype);
  if (weight instanceof LowRankMatrix) {
    // y = U (Vᵀ x): x·V [.., r], then ·Uᵀ [r, m]
    const z = weightMatMul(
      g,
      input.x,
      { shape: [...weight.V.shape], data: weight.V.data },
      `${name}.V`,
      dtype,
    );
    return weightMatMul(g, z, transpose2d(weight.U), `${name}.U`, dtype);
  }
  const [m] = weight.shape;
  const out = (blocks: string) => reshapeOut(g, blocks, input.lead, m);
  if (weight instanceof BlastMatrix) {
    const mixing = options.mixing ?? DEFAULT_BLAST_MIXING;
    if (mixing === 'by-length') return blastByLength(g, input, weight, name, dtype);
    return out(blast(g, input.x, weight, name, mixing, dtype));
  }
  if (weight instanceof BlockDiagonalMatrix) {
    const [b, p, q] = weight.blocks.shape;
    const xt = blocksFirst(g, input.x, b, q);
    // y_i = blocks_i x_i: [b, T, q]·[b, q, p]
    const y = weightMatMul(
      g,
      xt,
      { shape: [b, q, p], data: transposeLast(weight.blocks) },
      `${name}.blocks`,
      dtype,
    );
    return out(y);
  }
  if (weight instanceof MonarchMatrix) return out(monarch(g, input.x, weight, name, dtype));
  throw new Error(`linear ${name}: no ONNX form for structure '${(weight as StructuredMatrix).kind}'`);
}

/** [T, b, q] → [b, T, q]: one row of x per block column, tokens in the middle (batched MatMul layout). */
function blocksFirst(g: GraphBuilder, x: string, b: number, q: number): string {
  const xb = g.op('Reshape', [x, g.ints([-1, b, q])]);
  return g.op('Transpose', [xb], { perm: [1, 0, 2] });
}

/** [b, T, p] → [..., b·p] with the leading dims of the input. */
function reshapeOut(g: GraphBuilder, y: string, lead: string, m: number): string {
  const yt = g.op('Transpose', [y], { perm: [1, 0, 2] });
  const shape = g.op('Concat', [lead, g.ints([m])], { axis: 0 });
  return g.op('Reshape', [yt, shape]);
}

function blast(
  g: GraphBuilder,
  x: string,
  A: BlastMatrix,
  name: string,
  mixing: BlastMixing,
  dtype: WeightDtype,
): string {
  const [b, p, r] = A.B.shape;
  const q = A.C.shape[2];
  const xt = blocksFirst(g, x, b, q);
  // step 1, z_j = V_jᵀ x_j: [b, T, q]·[b, q, r] (C stored [b, r, q], so per-block transposed)
  const z = weightMatMul(g, xt, { shape: [b, q, r], data: transposeLast(A.C) }, `${name}.C`, dtype);
  // step 2, w_i = Σ_j s_ij ⊙ z_j
  let w: string;
  if (mixing === 'matmul') {
    // per rank k, a b×b matrix: D permuted to [r, b_i, b_j] times z as [r, b_j, T]
    const Dp = g.constant(`${name}.D`, [r, b, b], permuteD(A.D, b, r));
    const zt = g.op('Transpose', [z], { perm: [2, 0, 1] });
    const wt = g.op('MatMul', [Dp, zt]);
    w = g.op('Transpose', [wt], { perm: [1, 2, 0] });
  } else if (mixing === 'mul-reducesum') {
    const D4 = g.constant(`${name}.D`, [b, b, 1, r], A.D.data);
    const prod = g.op('Mul', [g.op('Unsqueeze', [z, g.ints([0])]), D4]);
    w = g.op('ReduceSum', [prod, g.ints([1])], { keepdims: 0 });
  } else {
    const D = g.constant(`${name}.D`, [b, b, r], A.D.data);
    w = g.op('Einsum', [z, D], { equation: 'jtk,ijk->itk' });
  }
  // step 3, y_i = U_i w_i: [b, T, r]·[b, r, p]
  return weightMatMul(g, w, { shape: [b, r, p], data: transposeLast(A.B) }, `${name}.B`, dtype);
}

/**
 * BLAST with a path per input length (see {@link BLAST_MIXINGS}): U stored [b, p, r] and applied as U_i·w_i
 * to w laid out [b, r, T], in both paths.
 */
function blastByLength(
  g: GraphBuilder,
  input: LinearInput,
  A: BlastMatrix,
  name: string,
  dtype: WeightDtype,
): string {
  const [b, p, r] = A.B.shape;
  const q = A.C.shape[2];
  const m = b * p;
  // one value for both paths of the If (batched factors: q4 stores them as q8)
  const C = weightValue(g, { shape: [b, q, r], data: transposeLast(A.C) }, `${name}.C`, dtype);
  const U = leftWeight(g, { shape: [b, p, r], data: A.B.data }, `${name}.B`, dtype);
  const D = g.constant(`${name}.D`, [b, b, r], A.D.data);
  // the D views each path wants, made outside the If so that the runtime folds them once at load
  const D4 = g.op('Reshape', [D, g.ints([b, b, 1, r])]);
  const Dp = g.op('Transpose', [D], { perm: [2, 0, 1] });
  const outShape = g.op('Concat', [input.lead, g.ints([m])], { axis: 0 });
  const oneToken = g.op('Equal', [g.op('ReduceProd', [input.lead], { keepdims: 0 }), g.ints([1], true)]);
  const [y] = g.ifElse(
    oneToken,
    1,
    (d) => {
      const z = d.op('MatMul', [d.op('Reshape', [input.x, d.ints([b, 1, q])]), C]); // [b, 1, r]
      const w = d.op('ReduceSum', [d.op('Mul', [z, D4]), d.ints([1])], { keepdims: 0 }); // [b, 1, r]
      const yt = d.op('MatMul', [U, d.op('Reshape', [w, d.ints([b, r, 1])])]); // [b, p, 1]
      return [d.op('Reshape', [yt, outShape])];
    },
    (e) => {
      const z = e.op('MatMul', [blocksFirst(e, input.x, b, q), C]); // [b, T, r]
      const wr = e.op('MatMul', [Dp, e.op('Transpose', [z], { perm: [2, 0, 1] })]); // [r, b, T]
      const yt = e.op('MatMul', [U, e.op('Transpose', [wr], { perm: [1, 0, 2] })]); // [b, p, T]
      return [e.op('Reshape', [e.op('Transpose', [yt], { perm: [2, 0, 1] }), outShape])];
    },
  );
  return y;
}

/** A constant that multiplies from the left (W·x): as stored, or int8 per output row dequantized in the graph. */
function leftWeight(g: GraphBuilder, w: WeightData, name: string, dtype: WeightDtype): string {
  if (dtype === 'fp32' || dtype === 'fp16') return weightValue(g, w, name, dtype);
  // per output row = per column of the transpose: quantize that, transpose back (constants: folded at load)
  const [b, p, r] = w.shape;
  const t = weightValue(
    g,
    { shape: [b, r, p], data: transposeLast({ shape: [b, p, r], data: w.data }) },
    name,
    dtype,
  );
  return g.op('Transpose', [t], { perm: [0, 2, 1] });
}

function monarch(g: GraphBuilder, x: string, A: MonarchMatrix, name: string, dtype: WeightDtype): string {
  const [b, p, br] = A.L.shape;
  const q = A.R.shape[2];
  const rp = br / b;
  const xt = blocksFirst(g, x, b, q);
  // z_j = R_j x_j, its rows grouped by output block i: [b_j, T, b_i·r′]
  const z = weightMatMul(g, xt, { shape: [b, q, br], data: transposeLast(A.R) }, `${name}.R`, dtype);
  // route group i of input block j to output block i: [b_j, T, b_i, r′] → [b_i, T, b_j, r′]
  const z4 = g.op('Reshape', [z, g.ints([b, -1, b, rp])]);
  const routed = g.op('Transpose', [z4], { perm: [2, 1, 0, 3] });
  const w = g.op('Reshape', [routed, g.ints([b, -1, br])]);
  // y_i = L_i w_i: [b, T, b·r′]·[b, b·r′, p]
  return weightMatMul(g, w, { shape: [b, br, p], data: transposeLast(A.L) }, `${name}.L`, dtype);
}

/** D [b_i, b_j, r] → [r, b_i, b_j]. */
function permuteD(D: Tensor, b: number, r: number): Float32Array {
  const out = new Float32Array(b * b * r);
  for (let i = 0; i < b; i++)
    for (let j = 0; j < b; j++)
      for (let k = 0; k < r; k++) out[(k * b + i) * b + j] = D.data[(i * b + j) * r + k];
  return out;
}

/** [m, n] → [n, m] as a Tensor-like (shape + data). */
function transpose2d(t: Tensor): WeightData {
  const [m, n] = t.shape;
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j * m + i] = t.data[i * n + j];
  return { shape: [n, m], data: out };
}

/** [b, x, y] → [b, y, x] data. */
function transposeLast(t: { readonly shape: readonly number[]; readonly data: Float32Array }): Float32Array {
  const [b, x, y] = t.shape;
  const out = new Float32Array(b * x * y);
  for (let k = 0; k < b; k++)
    for (let i = 0; i < x; i++)
      for (let j = 0; j < y; j++) out[(k * y + j) * x + i] = t.data[(k * x + i) * y + j];
  return out;
}
