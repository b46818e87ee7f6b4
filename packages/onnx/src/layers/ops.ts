import type { Tensor, UnaryOp } from '@blastkit/core';
import { FLOAT16_MAX } from '../graph/float16.js';
import type { GraphBuilder } from '../graph/graph-builder.js';
import { DataType } from '../proto/model-proto.js';

/**
 * Additive attention bias [batch, 1, seq, total] for a decoder with a KV cache: 0 where query i (at position
 * past + i) may see key j (j ≤ past + i and `attention_mask` is 1 there), the float minimum elsewhere. `lead`
 * is Shape(input_ids) = [batch, seq]; `mask` is `attention_mask` [batch, past + seq].
 */
export function causalAttentionBias(g: GraphBuilder, mask: string, lead: string): string {
  const total = g.op('Gather', [g.op('Shape', [mask]), g.ints([1], true)], { axis: 0 });
  const seq = g.op('Gather', [lead, g.ints([1], true)], { axis: 0 });
  const past = g.op('Sub', [total, seq]);
  const keyPos = g.op('Range', [g.ints([0], true), total, g.ints([1], true)]);
  const queryPos = g.op('Range', [past, total, g.ints([1], true)]);
  const causal = g.op('LessOrEqual', [
    g.op('Unsqueeze', [keyPos, g.ints([0])]),
    g.op('Unsqueeze', [queryPos, g.ints([1])]),
  ]);
  const padding = g.op('Unsqueeze', [g.op('Cast', [mask], { to: DataType.BOOL }), g.ints([1, 2])]);
  const allowed = g.op('And', [causal, padding]);
  // the type's lowest finite value: float16's −65504 (float32's would round to −∞)
  const lowest = g.floatType === DataType.FLOAT16 ? -FLOAT16_MAX : -3.4028234663852886e38;
  return g.op('Where', [allowed, g.floats([0]), g.floats([lowest])]);
}

/**
 * softmax(q·kᵀ·scale + bias)·v for q [batch, heads, seq, d] and k, v [batch, heads, total, d] (bias broadcast,
 * or none), merged back to [batch, seq, heads·d].
 */
export function scaledDotAttention(
  g: GraphBuilder,
  q: string,
  k: string,
  v: string,
  scale: number,
  bias: string | undefined,
  heads: number,
  headDim: number,
): string {
  const scores = g.op('Mul', [
    g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]),
    g.floats([scale]),
  ]);
  const masked = bias === undefined ? scores : g.op('Add', [scores, bias]);
  const attn = g.op('MatMul', [g.op('Softmax', [masked], { axis: -1 }), v]);
  return g.op('Reshape', [
    g.op('Transpose', [attn], { perm: [0, 2, 1, 3] }),
    g.ints([0, 0, heads * headDim]),
  ]);
}

/** [batch, seq, heads·d] → [batch, heads, seq, d]. */
export function splitHeads(g: GraphBuilder, x: string, heads: number, headDim: number): string {
  return g.op('Transpose', [g.op('Reshape', [x, g.ints([0, 0, heads, headDim])])], { perm: [0, 2, 1, 3] });
}

/** LayerNorm over the last axis with weight and bias (opset 17's LayerNormalization, float32 statistics). */
export function layerNorm(
  g: GraphBuilder,
  x: string,
  weight: Tensor,
  bias: Tensor,
  eps: number,
  name: string,
): string {
  return g.op(
    'LayerNormalization',
    [
      x,
      g.constant(`${name}.weight`, weight.shape, weight.data),
      g.constant(`${name}.bias`, bias.shape, bias.data),
    ],
    { axis: -1, epsilon: { float: eps } },
  );
}

/** The activations the adapters use, as the core backend computes them (`gelu` exact, `gelu_tanh` tanh form). */
export function activation(g: GraphBuilder, x: string, op: UnaryOp): string {
  switch (op) {
    case 'gelu':
      // 0.5·x·(1 + erf(x/√2)): opset 17 has no Gelu op (it came in opset 20)
      return g.op('Mul', [
        g.op('Mul', [x, g.floats([0.5])]),
        g.op('Add', [g.op('Erf', [g.op('Mul', [x, g.floats([Math.SQRT1_2])])]), g.floats([1])]),
      ]);
    case 'gelu_tanh': {
      // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), transformers' gelu_new
      const cube = g.op('Mul', [g.op('Mul', [x, x]), x]);
      const inner = g.op('Mul', [
        g.op('Add', [x, g.op('Mul', [cube, g.floats([0.044715])])]),
        g.floats([Math.sqrt(2 / Math.PI)]),
      ]);
      return g.op('Mul', [
        g.op('Mul', [x, g.floats([0.5])]),
        g.op('Add', [g.op('Tanh', [inner]), g.floats([1])]),
      ]);
    }
    case 'silu':
      return g.op('Mul', [x, g.op('Sigmoid', [x])]);
    case 'relu':
      return g.op('Relu', [x]);
    case 'tanh':
      return g.op('Tanh', [x]);
    case 'sigmoid':
      return g.op('Sigmoid', [x]);
    default:
      throw new Error(`activation '${op}': no ONNX form here (gelu, gelu_tanh, silu, relu, tanh, sigmoid)`);
  }
}

/** x + b for a constant bias b [n] (a layer's own bias, or ROM's output bias). */
export function addBias(g: GraphBuilder, x: string, bias: Tensor, name: string): string {
  return g.op('Add', [x, g.constant(name, bias.shape, bias.data)]);
}
