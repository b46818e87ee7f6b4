import type { GraphBuilder } from '../graph/graph-builder.js';

/**
 * How weight matrices are stored: `fp32`; `fp16`, float16 weights in a graph whose activations, KV cache and
 * decoder logits are float16 too (the file and cache halve; RoPE angles and RMSNorm statistics stay float32);
 * `q8`, int8 with one float scale per output channel, dequantized
 * in the graph (Cast·scale on initializers, which onnxruntime folds into float weights when the session
 * loads: a 4× smaller file, fp32 speed); `q4`, 2-D weights as onnxruntime's `MatMulNBits` (com.microsoft; int4
 * in blocks of 32 along the input with a float scale each, symmetric, zero point 8) and batched factors as q8.
 */
export const WEIGHT_DTYPES = ['fp32', 'fp16', 'q8', 'q4'] as const;
export type WeightDtype = (typeof WEIGHT_DTYPES)[number];

/** A weight as it multiplies from the right: [K, N] or batched [b, K, N], row-major. */
export interface WeightData {
  shape: number[];
  data: Float32Array;
}

const Q4_BLOCK = 32;

/** x·W for a constant W (2-D or batched), stored as `dtype`. */
export function weightMatMul(
  g: GraphBuilder,
  x: string,
  w: WeightData,
  name: string,
  dtype: WeightDtype,
): string {
  if (dtype === 'q4' && w.shape.length === 2) return matMulNBits(g, x, w, name);
  return g.op('MatMul', [x, weightValue(g, w, name, dtype)]);
}

/**
 * W as a float value of the graph for any dtype but q4's MatMulNBits: the constant itself (fp16: the builder
 * stores float constants as its float type), or int8 with one scale per output column dequantized in the graph.
 */
export function weightValue(g: GraphBuilder, w: WeightData, name: string, dtype: WeightDtype): string {
  return dtype === 'fp32' || dtype === 'fp16' ? g.constant(name, w.shape, w.data) : dequantized(g, w, name);
}

/** int8 [..., K, N] with one scale per (batch, output column): Cast then Mul, folded by the runtime. */
export function dequantized(g: GraphBuilder, w: WeightData, name: string): string {
  const N = w.shape[w.shape.length - 1];
  const K = w.shape[w.shape.length - 2];
  const batches = w.data.length / (K * N);
  const q = new Int8Array(w.data.length);
  const scales = new Float32Array(batches * N);
  for (let b = 0; b < batches; b++) {
    const base = b * K * N;
    for (let n = 0; n < N; n++) {
      let amax = 0;
      for (let k = 0; k < K; k++) amax = Math.max(amax, Math.abs(w.data[base + k * N + n]));
      const s = amax > 0 ? amax / 127 : 1;
      scales[b * N + n] = s;
      for (let k = 0; k < K; k++) q[base + k * N + n] = Math.round(w.data[base + k * N + n] / s);
    }
  }
  const qName = g.constant(`${name}.q8`, w.shape, q);
  const scaleShape = [...w.shape.slice(0, -2), 1, N];
  const sName = g.constant(`${name}.scale`, scaleShape, scales);
  return g.op('Mul', [g.op('Cast', [qName], { to: g.floatType }), sName]);
}

/** int4 blocks of W [K, N] as MatMulNBits stores them: [N, K/32, 16] bytes (low nibble first), scales [N, K/32]. */
function packQ4(w: { readonly shape: readonly number[]; readonly data: Float32Array }) {
  const [K, N] = w.shape;
  const blocks = Math.ceil(K / Q4_BLOCK);
  const blob = Q4_BLOCK / 2;
  const packed = new Uint8Array(N * blocks * blob);
  const scales = new Float32Array(N * blocks);
  for (let n = 0; n < N; n++) {
    for (let blk = 0; blk < blocks; blk++) {
      let amax = 0;
      for (let k = blk * Q4_BLOCK; k < Math.min(K, (blk + 1) * Q4_BLOCK); k++)
        amax = Math.max(amax, Math.abs(w.data[k * N + n]));
      const s = amax > 0 ? amax / 7 : 1;
      scales[n * blocks + blk] = s;
      for (let e = 0; e < Q4_BLOCK; e++) {
        const k = blk * Q4_BLOCK + e;
        const v = k < K ? Math.max(0, Math.min(15, Math.round(w.data[k * N + n] / s) + 8)) : 8;
        const at = (n * blocks + blk) * blob + (e >> 1);
        packed[at] |= e & 1 ? v << 4 : v;
      }
    }
  }
  return { K, N, blocks, blob, packed, scales };
}

/** MatMulNBits (4 bits): B as [N, K/32, 16] bytes (low nibble first), scales [N, K/32], zero point 8. */
function matMulNBits(g: GraphBuilder, x: string, w: WeightData, name: string): string {
  const { K, N, blocks, blob, packed, scales } = packQ4(w);
  const B = g.constant(`${name}.q4`, [N, blocks, blob], packed);
  const S = g.constant(`${name}.scales`, [N * blocks], scales);
  return g.op('MatMulNBits', [x, B, S], { K, N, bits: 4, block_size: Q4_BLOCK }, 'com.microsoft');
}

/** A token embedding as the graph reads it: rows by id, and the tied head's product with its transpose. */
export interface EmbeddingTable {
  /** The rows of `ids` ([..., hidden] for ids [...]). */
  gather(ids: string): string;
  /** x·Eᵀ: the logits of a head tied to the embedding ([..., vocab] for x [..., hidden]). */
  head(x: string): string;
}

/**
 * A token embedding E [vocab, hidden], stored as `dtype`: the embedding is the largest tensor of a small model
 * (stories15M: 9.2 M of 15.2 M parameters), so leaving it fp32 would keep most of the file. q8: int8 with one
 * scale per token (the head's output channel), dequantized in the graph as the other q8 weights. q4 (hidden a
 * multiple of 32): one int4 copy that serves both uses — MatMulNBits' B for Eᵀ is E's rows in blocks of 32,
 * byte for byte the layout com.microsoft's GatherBlockQuantized reads rows from (both take zero point 8).
 */
export function embeddingTable(
  g: GraphBuilder,
  t: { readonly shape: readonly number[]; readonly data: Float32Array },
  name: string,
  dtype: WeightDtype,
): EmbeddingTable {
  const [rows, cols] = t.shape;
  if (dtype === 'fp32' || dtype === 'fp16') {
    const table = g.constant(name, t.shape, t.data);
    let transposed: string | undefined;
    return {
      gather: (ids) => g.op('Gather', [table, ids], { axis: 0 }),
      head: (x) => {
        transposed ??= g.op('Transpose', [table], { perm: [1, 0] });
        return g.op('MatMul', [x, transposed]);
      },
    };
  }
  const flipped = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) flipped[c * rows + r] = t.data[r * cols + c];
  const eT = { shape: [cols, rows], data: flipped };
  if (dtype === 'q4' && cols % Q4_BLOCK === 0) {
    const { blocks, blob, packed, scales } = packQ4(eT);
    const data = g.constant(`${name}.q4`, [rows, cols / 2], packed);
    const S = g.constant(`${name}.scales`, [rows, blocks], scales);
    return {
      gather: (ids) =>
        g.op(
          'GatherBlockQuantized',
          [data, ids, S],
          { bits: 4, block_size: Q4_BLOCK, gather_axis: 0, quantize_axis: 1 },
          'com.microsoft',
        ),
      head: (x) => {
        const B = g.op('Reshape', [data, g.ints([rows, blocks, blob])]);
        const flat = g.op('Reshape', [S, g.ints([rows * blocks])]);
        return g.op(
          'MatMulNBits',
          [x, B, flat],
          { K: cols, N: rows, bits: 4, block_size: Q4_BLOCK },
          'com.microsoft',
        );
      },
    };
  }
  // [hidden, vocab] with one scale per vocab column = per token row; Gather reads its transpose
  const transposed = dequantized(g, eT, name);
  let table: string | undefined;
  return {
    gather: (ids) => {
      table ??= g.op('Transpose', [transposed], { perm: [1, 0] });
      return g.op('Gather', [table, ids], { axis: 0 });
    },
    head: (x) => g.op('MatMul', [x, transposed]),
  };
}
