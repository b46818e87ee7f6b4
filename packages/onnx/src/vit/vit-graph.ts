import { DenseMatrix, type StructuredMatrix, Tensor } from '@blastkit/core';
import {
  ModelFormatError,
  type TensorSource,
  VIT_LINEAR_MODULES,
  VIT_PATCH_PROJECTION,
  type VitConfig,
  vitGridSize,
  vitLinearShapes,
  vitSequenceLength,
  vitWeightShapes,
} from '@blastkit/models';
import { GraphBuilder } from '../graph/graph-builder.js';
import { weightReader } from '../graph/weight-reader.js';
import { emitLinear, type LinearOptions } from '../layers/linear.js';
import { activation, addBias, layerNorm, scaledDotAttention, splitHeads } from '../layers/ops.js';
import { DataType } from '../proto/model-proto.js';

/** Options of {@link buildVitGraph}. */
export interface VitGraphOptions extends LinearOptions {
  /** Names the weights' file in errors. */
  file?: string;
  /** Output biases of replaced linears (ROM's mean compensation), added to the layer's own bias. */
  biases?: ReadonlyMap<string, Tensor>;
}

/** What was built: the graph, plus a count of the structured linears kept structured. */
export interface VitGraph {
  graph: GraphBuilder;
  structured: number;
}

/**
 * A ViT image classifier (ViTForImageClassification) as one ONNX graph, with the input and output
 * transformers.js uses: `pixel_values` [batch, channels, size, size] (already normalized) → `logits`
 * [batch, labels]. The patch embedding is the stride-p convolution written as patches (Reshape, Transpose)
 * times the kernel as a linear [hidden, channels·p·p], so it can be structured like the encoder linears and
 * the classifier (the module names `VitModel` takes replacements under).
 */
export async function buildVitGraph(
  config: VitConfig,
  source: TensorSource,
  replacements: ReadonlyMap<string, StructuredMatrix> = new Map(),
  options: VitGraphOptions = {},
): Promise<VitGraph> {
  const file = options.file ?? 'model';
  const shapes = vitWeightShapes(config);
  const linearShapes = vitLinearShapes(config);
  const read = weightReader(source, shapes, file);
  for (const name of replacements.keys())
    if (!linearShapes.has(name)) throw new ModelFormatError(file, `no linear '${name}' to replace`);
  const biases = options.biases ?? new Map<string, Tensor>();
  for (const [name, b] of biases)
    if (b.shape.length !== 1 || b.shape[0] !== linearShapes.get(name)?.[0])
      throw new ModelFormatError(
        file,
        `output bias of '${name}' has shape [${b.shape}], expected [${linearShapes.get(name)?.[0] ?? 'a linear'}]`,
      );

  const g = new GraphBuilder({ floatType: options.dtype === 'fp16' ? DataType.FLOAT16 : DataType.FLOAT });
  const { hiddenSize: H, numHeads, headDim: hd, numChannels: C, patchSize: p, imageSize: S } = config;
  const grid = vitGridSize(config);
  const T = vitSequenceLength(config);
  // float32 in and out even in an fp16 graph: transformers.js feeds its image processor's float32 pixels as
  // they are, and its classification pipeline reads the logits' data as float32
  const pixelsIn = g.input('pixel_values', DataType.FLOAT, ['batch_size', C, S, S]);
  const pixels = g.toFloatType(pixelsIn);
  let structured = 0;
  // y = A·x + b: the replacement's structured ops or the dense weight [out, in]; the layer's bias (if any)
  const affine = async (x: string, lead: string, module: string) => {
    const replaced = replacements.get(module);
    if (replaced && !(replaced instanceof DenseMatrix)) structured++;
    const shape = linearShapes.get(module) as [number, number];
    // the patch projection's kernel [H, C, p, p] is the linear [H, C·p·p] on flattened patches
    const weight = replaced ?? (await read(`${module}.weight`)).reshape(shape);
    const y = emitLinear(g, { x, lead }, weight, module, options);
    const own = shapes.has(`${module}.bias`) ? await read(`${module}.bias`) : undefined;
    const extra = biases.get(module);
    const bias =
      own && extra
        ? new Tensor(
            own.shape,
            own.data.map((v, i) => v + extra.data[i]),
          )
        : (own ?? extra);
    return bias ? addBias(g, y, bias, `${module}.bias`) : y;
  };
  const norm = async (x: string, name: string) =>
    layerNorm(g, x, await read(`${name}.weight`), await read(`${name}.bias`), config.layerNormEps, name);

  // patches: the stride-p conv drops a remainder, so crop to grid·p first where there is one
  const cropped =
    grid * p === S
      ? pixels
      : g.op('Slice', [pixels, g.ints([0, 0]), g.ints([grid * p, grid * p]), g.ints([2, 3])]);
  // [B, C, gy, dy, gx, dx] → [B, gy, gx, C, dy, dx]: row-major over the grid, each patch in (C, p, p) order
  const six = g.op('Reshape', [cropped, g.ints([-1, C, grid, p, grid, p])]);
  const patches = g.op('Reshape', [
    g.op('Transpose', [six], { perm: [0, 2, 4, 1, 3, 5] }),
    g.ints([-1, grid * grid, C * p * p]),
  ]);
  const patchLead = g.op('Slice', [g.op('Shape', [patches]), g.ints([0]), g.ints([2])]);
  const embedded = await affine(patches, patchLead, VIT_PATCH_PROJECTION);
  // [CLS; patches] + positions
  const batch = g.op('Slice', [g.op('Shape', [pixels]), g.ints([0]), g.ints([1])]);
  const clsTensor = await read('vit.embeddings.cls_token');
  const cls = g.op('Expand', [
    g.constant('vit.embeddings.cls_token', clsTensor.shape, clsTensor.data),
    g.op('Concat', [batch, g.ints([1, H])], { axis: 0 }),
  ]);
  const posTensor = await read('vit.embeddings.position_embeddings');
  let x = g.op('Add', [
    g.op('Concat', [cls, embedded], { axis: 1 }),
    g.constant('vit.embeddings.position_embeddings', [1, T, H], posTensor.data),
  ]);
  const lead = g.op('Concat', [batch, g.ints([T])], { axis: 0 });
  const scale = 1 / Math.sqrt(hd);
  for (let l = 0; l < config.numLayers; l++) {
    const pre = `vit.encoder.layer.${l}`;
    const [query, key, value, attnOut, intermediate, output] = VIT_LINEAR_MODULES.map((m) => `${pre}.${m}`);
    const h = await norm(x, `${pre}.layernorm_before`);
    const heads = async (module: string) => splitHeads(g, await affine(h, lead, module), numHeads, hd);
    // every token sees every other: no mask
    const attn = scaledDotAttention(
      g,
      await heads(query),
      await heads(key),
      await heads(value),
      scale,
      undefined,
      numHeads,
      hd,
    );
    x = g.op('Add', [x, await affine(attn, lead, attnOut)]);
    const h2 = await norm(x, `${pre}.layernorm_after`);
    const mid = activation(g, await affine(h2, lead, intermediate), config.activation);
    x = g.op('Add', [x, await affine(mid, lead, output)]);
  }
  // the head reads the CLS row only; LayerNorm is per row, so normalizing that row alone gives the same
  const pooled = await norm(g.op('Gather', [x, g.ints([0], true)], { axis: 1 }), 'vit.layernorm');
  const logits = await affine(pooled, batch, 'classifier');
  g.output(g.toFloat32(logits), 'logits', DataType.FLOAT, ['batch_size', config.numLabels]);
  return { graph: g, structured };
}
