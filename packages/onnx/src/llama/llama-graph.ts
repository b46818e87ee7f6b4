import { DenseMatrix, type StructuredMatrix, type Tensor } from '@blastkit/core';
import {
  type LlamaConfig,
  llamaWeightShapes,
  ModelFormatError,
  ropeOptions,
  type TensorSource,
} from '@blastkit/models';
import { GraphBuilder } from '../graph/graph-builder.js';
import { weightReader } from '../graph/weight-reader.js';
import { emitLinearsOfOneInput, type LinearOptions } from '../layers/linear.js';
import { addBias, causalAttentionBias } from '../layers/ops.js';
import { embeddingTable } from '../layers/quantize.js';
import { DataType } from '../proto/model-proto.js';

/** Options of {@link buildLlamaGraph}. */
export interface LlamaGraphOptions extends LinearOptions {
  /** Names the weights' file in errors. */
  file?: string;
  /** Output biases of replaced linears (ROM's mean compensation), by module name: added after the linear. */
  biases?: ReadonlyMap<string, Tensor>;
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
  const read = weightReader(source, shapes, file);
  // the Llama family's variants (read loosely: @blastkit/models grows them) this graph does not write yet
  const variant = config as {
    linearBiases?: readonly string[];
    slidingWindow?: number;
    fusedProjections?: boolean;
  };
  const unsupported = [
    variant.linearBiases?.length ? `linear biases (${variant.linearBiases.join(', ')})` : '',
    variant.slidingWindow !== undefined ? `a sliding window (${variant.slidingWindow})` : '',
    variant.fusedProjections ? 'fused q/k/v and gate/up projections' : '',
  ].filter(Boolean);
  if (unsupported.length > 0)
    throw new ModelFormatError(file, `the ONNX export does not write ${unsupported.join(', ')} yet`);
  for (const name of replacements.keys())
    if (!shapes.has(`${name}.weight`)) throw new ModelFormatError(file, `no linear '${name}' to replace`);
  const biases = options.biases ?? new Map<string, Tensor>();
  for (const [name, b] of biases) {
    const rows = shapes.get(`${name}.weight`)?.[0];
    if (rows === undefined) throw new ModelFormatError(file, `output bias for '${name}', which is no linear`);
    if (b.shape.length !== 1 || b.shape[0] !== rows)
      throw new ModelFormatError(file, `output bias of '${name}' has shape [${b.shape}], expected [${rows}]`);
  }

  const g = new GraphBuilder({ floatType: options.dtype === 'fp16' ? DataType.FLOAT16 : DataType.FLOAT });
  const { hiddenSize: H, numHeads: nH, numKvHeads: kvH, headDim: hd, numLayers } = config;
  const ids = g.input('input_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', DataType.INT64, ['batch_size', 'total_sequence_length']);
  const positions = g.input('position_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  const pastNames = Array.from({ length: numLayers }, (_, i) => [
    g.input(`past_key_values.${i}.key`, g.floatType, ['batch_size', kvH, 'past_sequence_length', hd]),
    g.input(`past_key_values.${i}.value`, g.floatType, ['batch_size', kvH, 'past_sequence_length', hd]),
  ]);

  // [batch, seq]: the leading dims every linear's output is reshaped back to
  const lead = g.op('Shape', [ids]);
  const linearInput = (x: string) => ({ x, lead });
  let structured = 0;
  // the linears that read one input (q, k, v; gate, up) go together, so that BLAST ones can share a chain
  const linears = async (x: string, modules: string[]) => {
    const weights: (StructuredMatrix | Tensor)[] = [];
    for (const module of modules) {
      const replaced = replacements.get(module);
      if (replaced && !(replaced instanceof DenseMatrix)) structured++;
      weights.push(replaced ?? (await read(`${module}.weight`)));
    }
    return emitLinearsOfOneInput(g, linearInput(x), weights, modules, options).map((y, k) => {
      const b = biases.get(modules[k]);
      return b ? addBias(g, y, b, `${modules[k]}.bias`) : y;
    });
  };
  const linear = async (x: string, module: string) => (await linears(x, [module]))[0];

  // additive attention bias [batch, 1, seq, total]: causal, and honouring attention_mask (left padding)
  const bias = causalAttentionBias(g, mask, lead);

  // RoPE (rotate-half layout, as Hugging Face): angles = position · inv_freq, in float32 even in an fp16 graph
  // (float16 positions past 2048 are not even integers, and its angles would be off by hundredths)
  const rope = ropeOptions(config);
  const half = hd / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++)
    inv[i] = rope.invFrequencies ? rope.invFrequencies[i] : config.ropeTheta ** (-(2 * i) / hd);
  if (rope.positionScale !== undefined) for (let i = 0; i < half; i++) inv[i] *= rope.positionScale;
  const pos = g.op('Unsqueeze', [g.op('Cast', [positions], { to: DataType.FLOAT }), g.ints([2])]);
  const freqs = g.op('Mul', [pos, g.constant('rope.inv_freq', [half], inv, { float32: true })]);
  const angles = g.op('Unsqueeze', [g.op('Concat', [freqs, freqs], { axis: -1 }), g.ints([1])]);
  const cos = g.toFloatType(g.op('Cos', [angles]));
  const sin = g.toFloatType(g.op('Sin', [angles]));
  const halves = g.ints([half, half]);
  const applyRope = (x: string) => {
    const [x1, x2] = g.opN('Split', [x, halves], 2, { axis: -1 });
    const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: -1 });
    return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rotated, sin])]);
  };

  // in float32 in an fp16 graph, as Hugging Face's LlamaRMSNorm: x² overflows float16 past |x| = 256
  const rmsNorm = async (x16: string, weight: string) => {
    const w = await read(weight);
    const x = g.toFloat32(x16);
    const meanSquare = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    const inverse = g.op('Reciprocal', [
      g.op('Sqrt', [g.op('Add', [meanSquare, g.floats([config.rmsNormEps], true, { float32: true })])]),
    ]);
    return g.op('Mul', [g.toFloatType(g.op('Mul', [x, inverse])), g.constant(weight, [H], w.data)]);
  };

  const embedTensor = await read('model.embed_tokens.weight');
  const embed = embeddingTable(g, embedTensor, 'model.embed_tokens.weight', options.dtype ?? 'fp32');
  let h = embed.gather(ids);
  const heads = (x: string, n: number) =>
    g.op('Transpose', [g.op('Reshape', [x, g.ints([0, 0, n, hd])])], { perm: [0, 2, 1, 3] });
  const rep = nH / kvH;
  // the grouped queries' rows are (repeat, position): the bias tiled the same way
  const groupBias = rep === 1 ? bias : g.op('Tile', [bias, g.ints([1, 1, rep, 1])]);
  for (let l = 0; l < numLayers; l++) {
    const p = `model.layers.${l}`;
    const x = await rmsNorm(h, `${p}.input_layernorm.weight`);
    const [qx, kx, vx] = await linears(
      x,
      ['q_proj', 'k_proj', 'v_proj'].map((s) => `${p}.self_attn.${s}`),
    );
    const q = applyRope(heads(qx, nH));
    const k = applyRope(heads(kx, kvH));
    const v = heads(vx, kvH);
    const presentK = g.op('Concat', [pastNames[l][0], k], { axis: 2 });
    const presentV = g.op('Concat', [pastNames[l][1], v], { axis: 2 });
    g.output(presentK, `present.${l}.key`, g.floatType, ['batch_size', kvH, 'total_sequence_length', hd]);
    g.output(presentV, `present.${l}.value`, g.floatType, ['batch_size', kvH, 'total_sequence_length', hd]);
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
    const [gate, up] = await linears(y, [`${p}.mlp.gate_proj`, `${p}.mlp.up_proj`]);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    h = g.op('Add', [h, await linear(act, `${p}.mlp.down_proj`)]);
  }
  const final = await rmsNorm(h, 'model.norm.weight');
  const logits = config.tieWordEmbeddings ? embed.head(final) : await linear(final, 'lm_head');
  g.output(logits, 'logits', g.floatType, ['batch_size', 'sequence_length', config.vocabSize]);
  return { graph: g, structured };
}
