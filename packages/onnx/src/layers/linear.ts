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
 *   from the left; both read the same initializers;
 * - `per-block`: the mixing of `by-length` (an `If` on the token count), but each block's factors are their own
 *   2-D MatMuls (x_j·V_j and w_i·U_iᵀ): onnxruntime prepacks 2-D constant weights for its GEMM and not batched
 *   ones, and streams a prepacked weight faster (an experiment at 4096², b = 16, one token: 16 MatMuls of
 *   256×1024 took 0.93 ms against 1.25 ms batched — as fast as one 4096×1024 MatMul). 2b + 8 nodes a linear, so it pays
 *   where blocks are large. q4 stores every block as MatMulNBits;
 * - `auto`: `per-block` for a matrix whose block factors hold at least {@link PER_BLOCK_MIN_ELEMENTS} elements
 *   each, `by-length` for smaller blocks.
 */
export const BLAST_MIXINGS = ['matmul', 'mul-reducesum', 'einsum', 'by-length', 'per-block', 'auto'] as const;
export type BlastMixing = (typeof BLAST_MIXINGS)[number];

/**
 * The mixing written when none is asked for: `auto`. From one Llama decoder layer per width in the `onnx-cpu`
 * bench suite (onnxruntime-node, CPU, this project's 2-core VM; decode tokens/s against the dense export on 1 / 2
 * threads, and prefill time on 1): blocks 256 × 993 (width 4096, b = 16) `per-block` 1.44× / 1.25×, prefill
 * 0.59×, `by-length` 1.43× / 1.38×, 0.62×; 128 × 481 (width 2048, b = 16) 1.33× / 1.00×, 0.74× against
 * 1.24× / 1.27×, 0.81×; 192 × 190 (width 768, b = 4) 1.31× / 0.94×, 0.73× against 1.03× / 1.01×, 0.82×.
 * Per-block is the faster on one thread; on two, each of its many small MatMuls pays the pool's hand-off, which
 * costs the most where blocks are small. These ratios move by 0.1–0.3 between runs on this shared machine.
 * `mul-reducesum` materialises b²·N·r floats, so it cannot serve long prompts.
 */
export const DEFAULT_BLAST_MIXING: BlastMixing = 'auto';

/**
 * Elements of the smaller of a BLAST matrix's two block factors (p·r for U_i, q·r for V_j) from which `auto`
 * writes each block as its own MatMul: 128K, above the 2048-wide layer's 62K (by-length ahead on two threads by
 * more than per-block on one) and below the 4096-wide one's 254K (per-block even on one thread and ahead in
 * prefill, a little behind in decode on two).
 */
export const PER_BLOCK_MIN_ELEMENTS = 131072;

/** The concrete mixing `auto` (or an explicit choice) comes to for one BLAST matrix. */
export function blastMixingFor(A: BlastMatrix, mixing: BlastMixing = DEFAULT_BLAST_MIXING): BlastMixing {
  if (mixing !== 'auto') return mixing;
  const { p, q, r } = blastDims(A);
  return Math.min(p, q) * r >= PER_BLOCK_MIN_ELEMENTS ? 'per-block' : 'by-length';
}

/** How linears are written. */
export interface LinearOptions {
  /** BLAST mixing formulation (default {@link DEFAULT_BLAST_MIXING}). */
  mixing?: BlastMixing;
  /** Storage of the weight matrices (default fp32). */
  dtype?: WeightDtype;
  /** Linears that read one input written as one chain where they can be ({@link emitLinearsOfOneInput}; default true). */
  fuse?: boolean;
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
    const mixing = blastMixingFor(weight, options.mixing);
    if (mixing === 'by-length') return blastByLength(g, input, weight, name, dtype);
    if (mixing === 'per-block') return blastPerBlock(g, input, weight, name, dtype);
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

/**
 * The linears that read one input (a decoder's q, k and v; gate and up), each as `emitLinear` writes it, except
 * that BLAST matrices written `by-length` with the same blocks, block sizes and rank share one chain: their C
 * factors side by side in one x·C product, their mixings in one Mul + ReduceSum (or one batched MatMul), their U
 * factors stacked in one batched MatMul, then a Split. At stories15M's widths each BLAST linear costs
 * onnxruntime about as much in per-node overhead as in streaming its weights, so three chains in one save most
 * of two. The factors are stored as they are, concatenated: nothing is multiplied out. Returns the outputs in
 * the order of `weights`.
 */
export function emitLinearsOfOneInput(
  g: GraphBuilder,
  input: LinearInput,
  weights: readonly (StructuredMatrix | Tensor)[],
  names: readonly string[],
  options: LinearOptions = {},
): string[] {
  const out: string[] = new Array(weights.length);
  const groups = new Map<string, number[]>();
  for (const [k, w] of weights.entries()) {
    if (
      options.fuse !== false &&
      w instanceof BlastMatrix &&
      blastMixingFor(w, options.mixing) === 'by-length'
    ) {
      const { b, p, q, r } = blastDims(w);
      const key = `${b}/${p}/${q}/${r}`;
      groups.set(key, [...(groups.get(key) ?? []), k]);
    } else out[k] = emitLinear(g, input, w, names[k], options);
  }
  for (const members of groups.values()) {
    if (members.length === 1) {
      out[members[0]] = emitLinear(g, input, weights[members[0]], names[members[0]], options);
      continue;
    }
    const ys = blastByLengthChain(
      g,
      input,
      members.map((k) => weights[k] as BlastMatrix),
      members.map((k) => names[k]).join('+'),
      options.dtype ?? 'fp32',
    );
    for (const [i, k] of members.entries()) out[k] = ys[i];
  }
  return out;
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
  const { b, p, r, q, m } = blastDims(A);
  // one value for both paths of the If (batched factors: q4 stores them as q8)
  const C = weightValue(g, { shape: [b, q, r], data: transposeLast(A.C) }, `${name}.C`, dtype);
  const U = leftWeight(g, { shape: [b, p, r], data: A.B.data }, `${name}.B`, dtype);
  const D = g.constant(`${name}.D`, [b, b, r], A.D.data);
  // the D views each path wants, made outside the If so that the runtime folds them once at load
  const D4 = g.op('Reshape', [D, g.ints([b, b, 1, r])]);
  const Dp = g.op('Transpose', [D], { perm: [2, 0, 1] });
  const outShape = g.op('Concat', [input.lead, g.ints([m])], { axis: 0 });
  const [y] = g.ifElse(
    isOneToken(g, input.lead),
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

/**
 * `by-length` for k BLAST matrices of one shape on one input (see {@link emitLinearsOfOneInput}): C [b, q, k·r]
 * with the matrices' ranks side by side, D [b, b, k·r] likewise, U [k·b, p, r] stacked; k outputs.
 */
function blastByLengthChain(
  g: GraphBuilder,
  input: LinearInput,
  As: readonly BlastMatrix[],
  name: string,
  dtype: WeightDtype,
): string[] {
  const k = As.length;
  const { b, p, r, q, m } = blastDims(As[0]);
  const R = k * r;
  const Cs = As.map((A) => transposeLast(A.C)); // each [b, q, r]
  const Cdata = new Float32Array(b * q * R);
  const Ddata = new Float32Array(b * b * R);
  for (let i = 0; i < k; i++) {
    for (let row = 0; row < b * q; row++) Cdata.set(Cs[i].subarray(row * r, (row + 1) * r), row * R + i * r);
    for (let ij = 0; ij < b * b; ij++) Ddata.set(As[i].D.data.subarray(ij * r, (ij + 1) * r), ij * R + i * r);
  }
  const Udata = new Float32Array(k * b * p * r);
  for (let i = 0; i < k; i++) Udata.set(As[i].B.data, i * b * p * r);
  const C = weightValue(g, { shape: [b, q, R], data: Cdata }, `${name}.C`, dtype);
  const U = leftWeight(g, { shape: [k * b, p, r], data: Udata }, `${name}.B`, dtype);
  const D = g.constant(`${name}.D`, [b, b, R], Ddata);
  const D4 = g.op('Reshape', [D, g.ints([b, b, 1, R])]);
  const Dp = g.op('Transpose', [D], { perm: [2, 0, 1] });
  const outShape = g.op('Concat', [input.lead, g.ints([m])], { axis: 0 });
  const ones = g.ints(new Array<number>(k).fill(1));
  const split = (e: GraphBuilder, y: string) =>
    e.opN('Split', [y, ones], k, { axis: 0 }).map((part) => e.op('Reshape', [part, outShape]));
  return g.ifElse(
    isOneToken(g, input.lead),
    k,
    (d) => {
      const z = d.op('MatMul', [d.op('Reshape', [input.x, d.ints([b, 1, q])]), C]); // [b, 1, k·r]
      const w = d.op('ReduceSum', [d.op('Mul', [z, D4]), d.ints([1])], { keepdims: 0 }); // [b, 1, k·r]
      // [b, k, r] → [k, b, r] → [k·b, r, 1]: each matrix's w_i beside its U_i
      const wk = d.op('Transpose', [d.op('Reshape', [w, d.ints([b, k, r])])], { perm: [1, 0, 2] });
      const yt = d.op('MatMul', [U, d.op('Reshape', [wk, d.ints([k * b, r, 1])])]); // [k·b, p, 1]
      return split(d, d.op('Reshape', [yt, d.ints([k, m])]));
    },
    (e) => {
      const z = e.op('MatMul', [blocksFirst(e, input.x, b, q), C]); // [b, T, k·r]
      const wr = e.op('MatMul', [Dp, e.op('Transpose', [z], { perm: [2, 0, 1] })]); // [k·r, b, T]
      // [k, r, b, T] → [k, b, r, T] → [k·b, r, T]
      const wk = e.op('Transpose', [e.op('Reshape', [wr, e.ints([k, r, b, -1])])], { perm: [0, 2, 1, 3] });
      const yt = e.op('MatMul', [U, e.op('Reshape', [wk, e.ints([k * b, r, -1])])]); // [k·b, p, T]
      // [k, b, p, T] → [k, T, b, p] → [k, T, m]
      const yk = e.op('Transpose', [e.op('Reshape', [yt, e.ints([k, b, p, -1])])], { perm: [0, 3, 1, 2] });
      return split(e, e.op('Reshape', [yk, e.ints([k, -1, m])]));
    },
  );
}

/** BLAST with every block's factors as a 2-D MatMul and the token count choosing the mixing (see {@link BLAST_MIXINGS}). */
function blastPerBlock(
  g: GraphBuilder,
  input: LinearInput,
  A: BlastMatrix,
  name: string,
  dtype: WeightDtype,
): string {
  const { b, r, q, m } = blastDims(A);
  const ones = g.ints(new Array<number>(b).fill(1));
  // step 1, z_j = x_j·V_j per block: x [T, b, q] split into b × [T, 1, q], each times C_jᵀ [q, r]
  const xs = g.opN('Split', [g.op('Reshape', [input.x, g.ints([-1, b, q])]), ones], b, { axis: 1 });
  const zs = xs.map((xj, j) => weightMatMul(g, xj, blockTransposed(A.C, j), `${name}.C.${j}`, dtype));
  const z = g.op('Concat', zs, { axis: 1 }); // [T, b, r]
  // step 2, w_i = Σ_j s_ij ⊙ z_j: one token by Mul + ReduceSum, more by a MatMul per rank (as `by-length`)
  const D = g.constant(`${name}.D`, [b, b, r], A.D.data);
  const Dt = g.op('Transpose', [D], { perm: [2, 1, 0] }); // [r, b_j, b_i]
  const [w] = g.ifElse(
    isOneToken(g, input.lead),
    1,
    (d) => [
      d.op('ReduceSum', [d.op('Mul', [d.op('Unsqueeze', [z, d.ints([1])]), D]), d.ints([2])], {
        keepdims: 0,
      }),
    ],
    (e) => {
      // rank first and back by moving one axis (onnxruntime's fast transposes): [T, b, r] → [r, T, b] → [T, b, r]
      const wt = e.op('MatMul', [e.op('Transpose', [z], { perm: [2, 0, 1] }), Dt]); // [r, T, b_i]
      return [e.op('Transpose', [wt], { perm: [1, 2, 0] })];
    },
  ); // [T, b, r]
  // step 3, y_i = U_i w_i per block: w split into b × [T, 1, r], each times U_iᵀ [r, p]
  const ws = g.opN('Split', [w, ones], b, { axis: 1 });
  const ys = ws.map((wi, i) => weightMatMul(g, wi, blockTransposed(A.B, i), `${name}.B.${i}`, dtype));
  const shape = g.op('Concat', [input.lead, g.ints([m])], { axis: 0 });
  return g.op('Reshape', [g.op('Concat', ys, { axis: 2 }), shape]);
}

/** A BLAST matrix's sizes: b blocks a side, U_i [p, r], V_j [q, r], m = b·p outputs. */
function blastDims(A: BlastMatrix) {
  const [b, p, r] = A.B.shape;
  return { b, p, r, q: A.C.shape[2], m: b * p };
}

/** The bool scalar the token-count `If`s test: do the leading dimensions hold exactly one token? */
function isOneToken(g: GraphBuilder, lead: string): string {
  return g.op('Equal', [g.op('ReduceProd', [lead], { keepdims: 0 }), g.ints([1], true)]);
}

/** Block k of a batched [b, x, y] factor, transposed: the 2-D weight [y, x] that multiplies it from the right. */
function blockTransposed(t: Tensor, k: number): WeightData {
  const [, x, y] = t.shape;
  const block = t.data.subarray(k * x * y, (k + 1) * x * y);
  return { shape: [y, x], data: transposeLast({ shape: [1, x, y], data: block }) };
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
