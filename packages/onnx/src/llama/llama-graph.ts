import { DenseMatrix, type StructuredMatrix, type Tensor } from '@blastkit/core';
import {
  type LlamaConfig,
  llamaWeightShapes,
  ModelFormatError,
  ropeOptions,
  type TensorSource,
} from '@blastkit/models';
import { GraphBuilder } from '../graph/graph-builder.js';
import { emitLinear, type LinearOptions } from '../layers/linear.js';
import { DataType } from '../proto/model-proto.js';

/** Options of {@link buildLlamaGraph}. */
export interface LlamaGraphOptions extends LinearOptions {
  /** Names the weights' file in errors. */
  file?: string;
}

/** What was built: the graph, plus a count of the structured linears kept structured. */
export interface LlamaGraph {
  graph: GraphBuilder;
  structured: number;
}

/**
 * A Llama decoder with a KV cache as one ONNX graph, with the inputs and outputs transformers.js (and Optimum's
 * exports) use for `model_type: llama`: `input_ids`, `attention_mask` [batch, past + seq], `position_ids`,
 * `past_key_values.{i}.key|value` [batch, kv_heads, past, head_dim] → `logits` [batch, seq, vocab],
 * `present.{i}.key|value` (past and new concatenated). Replaced linears stay structured (see `emitLinear`).
 * The attention mask is causal (query i sees key j ≤ past + i) and honours `attention_mask` (left padding).
 */
export async function buildLlamaGraph(
  config: LlamaConfig,
  source: TensorSource,
  replacements: ReadonlyMap<string, StructuredMatrix> = new Map(),
  options: LlamaGraphOptions = {},
): Promise<LlamaGraph> {
  const file = options.file ?? 'model';
  const shapes = llamaWeightShapes(config);
  const available = new Set(source.names());
  const read = async (name: string): Promise<Tensor> => {
    const expected = shapes.get(name) ?? [];
    if (!available.has(name))
      throw new ModelFormatError(file, `missing weight '${name}' (shape [${expected}])`);
    const shape = source.shapeOf(name);
    if (shape.length !== expected.length || shape.some((s, i) => s !== expected[i]))
      throw new ModelFormatError(file, `weight '${name}' has shape [${shape}], expected [${expected}]`);
    return source.readTensor(name);
  };
  for (const name of replacements.keys())
    if (!shapes.has(`${name}.weight`)) throw new ModelFormatError(file, `no linear '${name}' to replace`);

  const g = new GraphBuilder();
  const { hiddenSize: H, numHeads: nH, numKvHeads: kvH, headDim: hd, numLayers } = config;
  const ids = g.input('input_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', DataType.INT64, ['batch_size', 'total_sequence_length']);
  const positions = g.input('position_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  const pastNames = Array.from({ length: numLayers }, (_, i) => [
    g.input(`past_key_values.${i}.key`, DataType.FLOAT, ['batch_size', kvH, 'past_sequence_length', hd]),
    g.input(`past_key_values.${i}.value`, DataType.FLOAT, ['batch_size', kvH, 'past_sequence_length', hd]),
  ]);

  // [batch, seq]: the leading dims every linear's output is reshaped back to
  const lead = g.op('Shape', [ids]);
  const linearInput = (x: string) => ({ x, lead });
  let structured = 0;
  const linear = async (x: string, module: string) => {
    const replaced = replacements.get(module);
    if (replaced && !(replaced instanceof DenseMatrix)) structured++;
    return emitLinear(g, linearInput(x), replaced ?? (await read(`${module}.weight`)), module, options);
  };

  // additive attention bias [batch, 1, seq, total]: 0 where query i may see key j, the float minimum elsewhere
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
  const bias = g.op('Where', [allowed, g.floats([0]), g.floats([-3.4028234663852886e38])]);

  // RoPE (rotate-half layout, as Hugging Face): angles = position · inv_freq, in float32
  const rope = ropeOptions(config);
  const half = hd / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++)
    inv[i] = rope.invFrequencies ? rope.invFrequencies[i] : config.ropeTheta ** (-(2 * i) / hd);
  if (rope.positionScale !== undefined) for (let i = 0; i < half; i++) inv[i] *= rope.positionScale;
  const pos = g.op('Unsqueeze', [g.op('Cast', [positions], { to: DataType.FLOAT }), g.ints([2])]);
  const freqs = g.op('Mul', [pos, g.constant('rope.inv_freq', [half], inv)]);
  const angles = g.op('Unsqueeze', [g.op('Concat', [freqs, freqs], { axis: -1 }), g.ints([1])]);
  const cos = g.op('Cos', [angles]);
  const sin = g.op('Sin', [angles]);
  const halves = g.ints([half, half]);
  const applyRope = (x: string) => {
    const [x1, x2] = g.opN('Split', [x, halves], 2, { axis: -1 });
    const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: -1 });
    return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rotated, sin])]);
  };

  const rmsNorm = async (x: string, weight: string) => {
    const w = await read(weight);
    const meanSquare = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    const inverse = g.op('Reciprocal', [
      g.op('Sqrt', [g.op('Add', [meanSquare, g.floats([config.rmsNormEps])])]),
    ]);
    return g.op('Mul', [g.op('Mul', [x, inverse]), g.constant(weight, [H], w.data)]);
  };

  const embedTensor = await read('model.embed_tokens.weight');
  const embed = g.constant('model.embed_tokens.weight', embedTensor.shape, embedTensor.data);
  let h = g.op('Gather', [embed, ids], { axis: 0 });
  const heads = (x: string, n: number) =>
    g.op('Transpose', [g.op('Reshape', [x, g.ints([0, 0, n, hd])])], { perm: [0, 2, 1, 3] });
  const rep = nH / kvH;
  // the grouped queries' rows are (repeat, position): the bias tiled the same way
  const groupBias = rep === 1 ? bias : g.op('Tile', [bias, g.ints([1, 1, rep, 1])]);
  for (let l = 0; l < numLayers; l++) {
    const p = `model.layers.${l}`;
    const x = await rmsNorm(h, `${p}.input_layernorm.weight`);
    const q = applyRope(heads(await linear(x, `${p}.self_attn.q_proj`), nH));
    const k = applyRope(heads(await linear(x, `${p}.self_attn.k_proj`), kvH));
    const v = heads(await linear(x, `${p}.self_attn.v_proj`), kvH);
    const presentK = g.op('Concat', [pastNames[l][0], k], { axis: 2 });
    const presentV = g.op('Concat', [pastNames[l][1], v], { axis: 2 });
    g.output(presentK, `present.${l}.key`, DataType.FLOAT, ['batch_size', kvH, 'total_sequence_length', hd]);
    g.output(presentV, `present.${l}.value`, DataType.FLOAT, [
      'batch_size',
      kvH,
      'total_sequence_length',
      hd,
    ]);
    // grouped-query attention without copying K/V: queries grouped as [batch, kv, rep·seq, hd]
    const qg = rep === 1 ? q : g.op('Reshape', [q, g.ints([0, kvH, -1, hd])]);
    const scores = g.op('Mul', [
      g.op('MatMul', [qg, g.op('Transpose', [presentK], { perm: [0, 1, 3, 2] })]),
      g.floats([1 / Math.sqrt(hd)]),
    ]);
    const masked = g.op('Add', [scores, groupBias]);
    const attn = g.op('MatMul', [g.op('Softmax', [masked], { axis: -1 }), presentV]);
    const merged = g.op('Reshape', [
      g.op('Transpose', [g.op('Reshape', [attn, g.ints([0, nH, -1, hd])])], { perm: [0, 2, 1, 3] }),
      g.ints([0, 0, nH * hd]),
    ]);
    h = g.op('Add', [h, await linear(merged, `${p}.self_attn.o_proj`)]);
    const y = await rmsNorm(h, `${p}.post_attention_layernorm.weight`);
    const gate = await linear(y, `${p}.mlp.gate_proj`);
    const up = await linear(y, `${p}.mlp.up_proj`);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    h = g.op('Add', [h, await linear(act, `${p}.mlp.down_proj`)]);
  }
  const final = await rmsNorm(h, 'model.norm.weight');
  const logits = config.tieWordEmbeddings
    ? g.op('MatMul', [final, g.op('Transpose', [embed], { perm: [1, 0] })])
    : await linear(final, 'lm_head');
  g.output(logits, 'logits', DataType.FLOAT, ['batch_size', 'sequence_length', config.vocabSize]);
  return { graph: g, structured };
}
