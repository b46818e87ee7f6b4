import { DenseMatrix, type StructuredMatrix, Tensor } from '@blastkit/core';
import {
  GPT2_LINEAR_MODULES,
  type Gpt2Config,
  gpt2AttentionScale,
  gpt2LinearDims,
  gpt2WeightShapes,
  ModelFormatError,
  type TensorSource,
} from '@blastkit/models';
import { GraphBuilder } from '../graph/graph-builder.js';
import { weightReader } from '../graph/weight-reader.js';
import { emitLinear, type LinearOptions } from '../layers/linear.js';
import {
  activation,
  addBias,
  causalAttentionBias,
  layerNorm,
  scaledDotAttention,
  splitHeads,
} from '../layers/ops.js';
import { embeddingTable, weightMatMul } from '../layers/quantize.js';
import { DataType } from '../proto/model-proto.js';

/** Options of {@link buildGpt2Graph}. */
export interface Gpt2GraphOptions extends LinearOptions {
  /** Names the weights' file in errors. */
  file?: string;
  /** Output biases of replaced linears (ROM's mean compensation), added to the layer's own bias. */
  biases?: ReadonlyMap<string, Tensor>;
}

/** What was built: the graph, plus a count of the structured linears kept structured. */
export interface Gpt2Graph {
  graph: GraphBuilder;
  structured: number;
}

/**
 * A GPT-2 decoder (GPT2LMHeadModel) with a KV cache as one ONNX graph, with the inputs and outputs
 * transformers.js and Optimum's exports use for `model_type: gpt2`: `input_ids`, `attention_mask`
 * [batch, past + seq], `position_ids`, `past_key_values.{i}.key|value` [batch, n_head, past, head_dim] →
 * `logits` [batch, seq, vocab], `present.{i}.key|value`. Block linears are `transformer.h.{i}.attn.c_attn`,
 * `.attn.c_proj`, `.mlp.c_fc`, `.mlp.c_proj` (replacements [out, in], as `Gpt2Model` takes them); dense ones
 * are the file's Conv1D weights [in, out], multiplied as stored.
 */
export async function buildGpt2Graph(
  config: Gpt2Config,
  source: TensorSource,
  replacements: ReadonlyMap<string, StructuredMatrix> = new Map(),
  options: Gpt2GraphOptions = {},
): Promise<Gpt2Graph> {
  const file = options.file ?? 'model';
  const shapes = gpt2WeightShapes(config);
  // GPT2LMHeadModel nests the decoder under `transformer.`; a GPT2Model checkpoint (the hub's `gpt2`) does not
  const names = new Set(source.names());
  const prefix = !names.has('transformer.wte.weight') && names.has('wte.weight') ? '' : 'transformer.';
  const read = weightReader(source, shapes, file, (name) =>
    name.startsWith('transformer.') ? prefix + name.slice('transformer.'.length) : name,
  );
  const dims = gpt2LinearDims(config);
  const linearOut = new Map<string, number>();
  for (let l = 0; l < config.nLayer; l++)
    for (const m of GPT2_LINEAR_MODULES) linearOut.set(`transformer.h.${l}.${m}`, dims[m][1]);
  if (!config.tieWordEmbeddings) linearOut.set('lm_head', config.vocabSize);
  for (const name of replacements.keys())
    if (!linearOut.has(name))
      throw new ModelFormatError(
        file,
        `no linear '${name}' to replace (expected 'transformer.h.{0…${config.nLayer - 1}}.{${GPT2_LINEAR_MODULES.join(',')}}')`,
      );
  const biases = options.biases ?? new Map<string, Tensor>();
  for (const [name, b] of biases)
    if (b.shape.length !== 1 || b.shape[0] !== linearOut.get(name))
      throw new ModelFormatError(
        file,
        `output bias of '${name}' has shape [${b.shape}], expected [${linearOut.get(name) ?? 'a linear'}]`,
      );

  const g = new GraphBuilder({ floatType: options.dtype === 'fp16' ? DataType.FLOAT16 : DataType.FLOAT });
  const { nEmbd: E, nHead, headDim: hd, nLayer } = config;
  const ids = g.input('input_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', DataType.INT64, ['batch_size', 'total_sequence_length']);
  const positions = g.input('position_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  const past = Array.from({ length: nLayer }, (_, i) =>
    (['key', 'value'] as const).map((kind) =>
      g.input(`past_key_values.${i}.${kind}`, g.floatType, ['batch_size', nHead, 'past_sequence_length', hd]),
    ),
  );
  const lead = g.op('Shape', [ids]);
  let structured = 0;
  // a Conv1D: x·W + b, W [in, out] as stored, or the replacement's structured ops
  const conv1d = async (x: string, module: string) => {
    const replaced = replacements.get(module);
    let y: string;
    if (replaced) {
      if (!(replaced instanceof DenseMatrix)) structured++;
      y = emitLinear(g, { x, lead }, replaced, module, options);
    } else {
      const w = await read(`${module}.weight`);
      y = weightMatMul(
        g,
        x,
        { shape: [...w.shape], data: w.data },
        `${module}.weight`,
        options.dtype ?? 'fp32',
      );
    }
    let bias = await read(`${module}.bias`);
    const extra = biases.get(module);
    // ROM's output bias folds into the layer's own: the same outputs, one Add
    if (extra)
      bias = new Tensor(
        bias.shape,
        bias.data.map((v, i) => v + extra.data[i]),
      );
    return addBias(g, y, bias, `${module}.bias`);
  };
  const norm = async (x: string, name: string) =>
    layerNorm(g, x, await read(`${name}.weight`), await read(`${name}.bias`), config.layerNormEpsilon, name);

  const bias = causalAttentionBias(g, mask, lead);
  const wteTensor = await read('transformer.wte.weight');
  const wte = embeddingTable(g, wteTensor, 'transformer.wte.weight', options.dtype ?? 'fp32');
  const wpeTensor = await read('transformer.wpe.weight');
  const wpe = g.constant('transformer.wpe.weight', wpeTensor.shape, wpeTensor.data);
  let h = g.op('Add', [wte.gather(ids), g.op('Gather', [wpe, positions], { axis: 0 })]);
  const thirds = g.ints([E, E, E]);
  for (let l = 0; l < nLayer; l++) {
    const p = `transformer.h.${l}`;
    const x = await norm(h, `${p}.ln_1`);
    // c_attn's outputs are q | k | v along the features
    const [q, k, v] = g.opN('Split', [await conv1d(x, `${p}.attn.c_attn`), thirds], 3, { axis: -1 });
    const presentK = g.op('Concat', [past[l][0], splitHeads(g, k, nHead, hd)], { axis: 2 });
    const presentV = g.op('Concat', [past[l][1], splitHeads(g, v, nHead, hd)], { axis: 2 });
    const presentDims = ['batch_size', nHead, 'total_sequence_length', hd];
    g.output(presentK, `present.${l}.key`, g.floatType, presentDims);
    g.output(presentV, `present.${l}.value`, g.floatType, presentDims);
    const scale = gpt2AttentionScale(config, l);
    const attn = scaledDotAttention(
      g,
      splitHeads(g, q, nHead, hd),
      presentK,
      presentV,
      scale,
      bias,
      nHead,
      hd,
    );
    h = g.op('Add', [h, await conv1d(attn, `${p}.attn.c_proj`)]);
    const y = await norm(h, `${p}.ln_2`);
    const act = activation(g, await conv1d(y, `${p}.mlp.c_fc`), config.activation);
    h = g.op('Add', [h, await conv1d(act, `${p}.mlp.c_proj`)]);
  }
  const final = await norm(h, 'transformer.ln_f');
  let logits: string;
  if (config.tieWordEmbeddings) logits = wte.head(final);
  else {
    const replaced = replacements.get('lm_head');
    if (replaced && !(replaced instanceof DenseMatrix)) structured++;
    logits = emitLinear(
      g,
      { x: final, lead },
      replaced ?? (await read('lm_head.weight')),
      'lm_head',
      options,
    );
    const extra = biases.get('lm_head');
    if (extra) logits = addBias(g, logits, extra, 'lm_head.bias');
  }
  g.output(logits, 'logits', g.floatType, ['batch_size', 'sequence_length', config.vocabSize]);
  return { graph: g, structured };
}
