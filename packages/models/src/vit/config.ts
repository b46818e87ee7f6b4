import type { UnaryOp } from '@blastkit/core';
import { ModelFormatError } from '../tensor-source.js';

/** A ViT image classifier's shape and numerics, in Hugging Face's vocabulary (ViTForImageClassification). */
export interface VitConfig {
  modelType: 'vit';
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  headDim: number;
  intermediateSize: number;
  /** Hugging Face `hidden_act`, as given in config.json. */
  hiddenAct: string;
  /** The backend's unary op for `hiddenAct` ('gelu' is the exact erf form, as transformers' 'gelu'). */
  activation: UnaryOp;
  layerNormEps: number;
  /** Side of the (square) input image, in pixels. */
  imageSize: number;
  /** Side of the (square) patches; the stride of the patch-embedding convolution. */
  patchSize: number;
  numChannels: number;
  /** Whether query, key and value projections have biases. */
  qkvBias: boolean;
  numLabels: number;
  /** Label names by class index, from `id2label` (`LABEL_i` when config.json has none). */
  labels: string[];
}

/** transformers' ACT2FN names this adapter runs, mapped to the backend's unary ops. */
const ACTIVATIONS: Record<string, UnaryOp> = {
  gelu: 'gelu',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  relu: 'relu',
  silu: 'silu',
  swish: 'silu',
};

/** Reads a Hugging Face ViTForImageClassification `config.json` object; `file` names it in errors. */
export function vitConfigFromHf(json: Record<string, unknown>, file = 'config.json'): VitConfig {
  if (json.model_type !== undefined && json.model_type !== 'vit')
    throw new ModelFormatError(file, `model_type is '${String(json.model_type)}', expected 'vit'`);
  const int = (key: string, fallback?: number): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
      throw new ModelFormatError(file, `'${key}' must be a positive integer (got ${JSON.stringify(v)})`);
    return v;
  };
  // transformers accepts an int or a [height, width] pair for image_size and patch_size
  const side = (key: string, fallback: number): number => {
    const v = json[key];
    if (!Array.isArray(v)) return int(key, fallback);
    if (v.length !== 2 || v[0] !== v[1])
      throw new ModelFormatError(
        file,
        `'${key}' is ${JSON.stringify(v)}; only square sizes (an integer or [n, n]) are supported`,
      );
    if (typeof v[0] !== 'number' || !Number.isInteger(v[0]) || v[0] <= 0)
      throw new ModelFormatError(file, `'${key}' must be a positive integer (got ${JSON.stringify(v)})`);
    return v[0];
  };
  const hiddenSize = int('hidden_size', 768);
  const numHeads = int('num_attention_heads', 12);
  if (hiddenSize % numHeads !== 0)
    throw new ModelFormatError(
      file,
      `hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numHeads}`,
    );
  const hiddenAct = json.hidden_act ?? 'gelu';
  const activation = typeof hiddenAct === 'string' ? ACTIVATIONS[hiddenAct] : undefined;
  if (activation === undefined)
    throw new ModelFormatError(
      file,
      `hidden_act ${JSON.stringify(hiddenAct)} is not supported (${Object.keys(ACTIVATIONS).join(', ')})`,
    );
  const eps = json.layer_norm_eps ?? 1e-12;
  if (typeof eps !== 'number' || !(eps > 0))
    throw new ModelFormatError(
      file,
      `'layer_norm_eps' must be a positive number (got ${JSON.stringify(eps)})`,
    );
  const qkvBias = json.qkv_bias ?? true;
  if (typeof qkvBias !== 'boolean')
    throw new ModelFormatError(file, `'qkv_bias' must be true or false (got ${JSON.stringify(qkvBias)})`);
  const imageSize = side('image_size', 224);
  const patchSize = side('patch_size', 16);
  if (patchSize > imageSize)
    throw new ModelFormatError(file, `patch_size ${patchSize} is larger than image_size ${imageSize}`);
  const labels = labelsFromHf(json, file);
  return {
    modelType: 'vit',
    hiddenSize,
    numLayers: int('num_hidden_layers', 12),
    numHeads,
    headDim: hiddenSize / numHeads,
    intermediateSize: int('intermediate_size', 3072),
    hiddenAct: hiddenAct as string,
    activation,
    layerNormEps: eps,
    imageSize,
    patchSize,
    numChannels: int('num_channels', 3),
    qkvBias,
    numLabels: labels.length,
    labels,
  };
}

/**
 * Class names from `id2label` (keys must be exactly 0 … n−1), else `num_labels` generic names, else
 * transformers' default of 2 labels.
 */
function labelsFromHf(json: Record<string, unknown>, file: string): string[] {
  const raw = json.id2label;
  if (raw === undefined || raw === null) {
    const n = json.num_labels ?? 2;
    if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0)
      throw new ModelFormatError(file, `'num_labels' must be a positive integer (got ${JSON.stringify(n)})`);
    return Array.from({ length: n }, (_, i) => `LABEL_${i}`);
  }
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new ModelFormatError(file, `'id2label' must be an object mapping class indices to names`);
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length === 0)
    throw new ModelFormatError(file, `'id2label' is empty; a classifier needs at least one label`);
  const labels: string[] = new Array(entries.length);
  for (const [key, name] of entries) {
    const i = Number(key);
    if (!Number.isInteger(i) || i < 0 || i >= entries.length || String(i) !== key)
      throw new ModelFormatError(
        file,
        `'id2label' key '${key}' is not a class index in [0, ${entries.length}) (keys must be 0 … n−1)`,
      );
    labels[i] = String(name);
  }
  if (typeof json.num_labels === 'number' && json.num_labels !== labels.length)
    throw new ModelFormatError(
      file,
      `'num_labels' is ${json.num_labels} but 'id2label' has ${labels.length} entries`,
    );
  return labels;
}

/** Patches per side: the stride-p convolution drops a remainder, as transformers' does. */
export function vitGridSize(c: VitConfig): number {
  return Math.floor(c.imageSize / c.patchSize);
}

/** Tokens per image: the CLS token and one per patch. */
export function vitSequenceLength(c: VitConfig): number {
  return 1 + vitGridSize(c) ** 2;
}

/** Every weight of a ViTForImageClassification under its Hugging Face name, with the shape it must have. */
export function vitWeightShapes(c: VitConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const H = c.hiddenSize;
  const p = c.patchSize;
  shapes.set('vit.embeddings.cls_token', [1, 1, H]);
  shapes.set('vit.embeddings.position_embeddings', [1, vitSequenceLength(c), H]);
  shapes.set('vit.embeddings.patch_embeddings.projection.weight', [H, c.numChannels, p, p]);
  shapes.set('vit.embeddings.patch_embeddings.projection.bias', [H]);
  for (let l = 0; l < c.numLayers; l++) {
    const pre = `vit.encoder.layer.${l}`;
    for (const norm of ['layernorm_before', 'layernorm_after']) {
      shapes.set(`${pre}.${norm}.weight`, [H]);
      shapes.set(`${pre}.${norm}.bias`, [H]);
    }
    for (const proj of ['query', 'key', 'value']) {
      shapes.set(`${pre}.attention.attention.${proj}.weight`, [H, H]);
      if (c.qkvBias) shapes.set(`${pre}.attention.attention.${proj}.bias`, [H]);
    }
    shapes.set(`${pre}.attention.output.dense.weight`, [H, H]);
    shapes.set(`${pre}.attention.output.dense.bias`, [H]);
    shapes.set(`${pre}.intermediate.dense.weight`, [c.intermediateSize, H]);
    shapes.set(`${pre}.intermediate.dense.bias`, [c.intermediateSize]);
    shapes.set(`${pre}.output.dense.weight`, [H, c.intermediateSize]);
    shapes.set(`${pre}.output.dense.bias`, [H]);
  }
  shapes.set('vit.layernorm.weight', [H]);
  shapes.set('vit.layernorm.bias', [H]);
  shapes.set('classifier.weight', [c.numLabels, H]);
  shapes.set('classifier.bias', [c.numLabels]);
  return shapes;
}

/** Module name of the patch embedding, run as a linear [hidden, channels·p·p] on flattened patches. */
export const VIT_PATCH_PROJECTION = 'vit.embeddings.patch_embeddings.projection';

/** The 6 linears of every encoder layer (suffixes of `vit.encoder.layer.{i}`): what BLAST replaces in ViT. */
export const VIT_LINEAR_MODULES = [
  'attention.attention.query',
  'attention.attention.key',
  'attention.attention.value',
  'attention.output.dense',
  'intermediate.dense',
  'output.dense',
] as const;

/**
 * Every linear a ViT can run as a structured matrix, with its [out, in] shape: the patch projection (its conv
 * weight [H, C, p, p] seen as [H, C·p·p]), the encoder linears and the classifier.
 */
export function vitLinearShapes(c: VitConfig): Map<string, [number, number]> {
  const shapes = new Map<string, [number, number]>();
  const weights = vitWeightShapes(c);
  shapes.set(VIT_PATCH_PROJECTION, [c.hiddenSize, c.numChannels * c.patchSize * c.patchSize]);
  for (let l = 0; l < c.numLayers; l++)
    for (const suffix of VIT_LINEAR_MODULES) {
      const name = `vit.encoder.layer.${l}.${suffix}`;
      shapes.set(name, weights.get(`${name}.weight`) as [number, number]);
    }
  shapes.set('classifier', [c.numLabels, c.hiddenSize]);
  return shapes;
}
