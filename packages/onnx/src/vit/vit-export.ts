import type { VitConfig } from '@blastkit/models';
import {
  buildForFolder,
  type OnnxExportInput,
  type OnnxExportOptions,
  type OnnxExportResult,
  writeOnnxFolder,
} from '../export/onnx-folder.js';
import { buildVitGraph } from './vit-graph.js';

/** config.json of a ViTForImageClassification for `c` (transformers' names; what transformers.js reads). */
export function vitConfigToHf(c: VitConfig): Record<string, unknown> {
  return {
    architectures: ['ViTForImageClassification'],
    model_type: 'vit',
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    intermediate_size: c.intermediateSize,
    hidden_act: c.hiddenAct,
    layer_norm_eps: c.layerNormEps,
    image_size: c.imageSize,
    patch_size: c.patchSize,
    num_channels: c.numChannels,
    qkv_bias: c.qkvBias,
    num_labels: c.numLabels,
    id2label: Object.fromEntries(c.labels.map((label, i) => [String(i), label])),
    label2id: Object.fromEntries(c.labels.map((label, i) => [label, i])),
  };
}

/**
 * transformers' ViTImageProcessor defaults at the model's image size (resize, scale to [0, 1], normalize with
 * mean = std = 0.5): written only when the model came without its own preprocessor_config.json.
 */
export function vitDefaultPreprocessor(c: VitConfig): Record<string, unknown> {
  return {
    image_processor_type: 'ViTImageProcessor',
    do_resize: true,
    size: { height: c.imageSize, width: c.imageSize },
    resample: 2,
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: [0.5, 0.5, 0.5],
    image_std: [0.5, 0.5, 0.5],
  };
}

/** What {@link exportVitOnnx} takes: a ViT, and optionally its own image processor settings. */
export interface VitExportInput extends OnnxExportInput<VitConfig> {
  /** preprocessor_config.json as the model came with it (default: {@link vitDefaultPreprocessor}). */
  preprocessor?: Record<string, unknown>;
}

/**
 * Writes the folder transformers.js loads for a ViT classifier
 * (`AutoModelForImageClassification.from_pretrained(dir)`, the `image-classification` pipeline): `config.json`
 * (model_type vit, id2label), `preprocessor_config.json` and `onnx/model.onnx` (`model_quantized.onnx` for q8,
 * `model_q4.onnx` for q4): `pixel_values` → `logits`.
 */
export async function exportVitOnnx(
  out: string,
  input: VitExportInput,
  options: OnnxExportOptions = {},
): Promise<OnnxExportResult> {
  const c = input.config;
  const { encoded, dtype, structured } = await buildForFolder('vit', buildVitGraph, input, options);
  return writeOnnxFolder(
    out,
    {
      encoded,
      dtype,
      structured,
      config: vitConfigToHf(c),
      preprocessor: input.preprocessor ?? vitDefaultPreprocessor(c),
      ...(input.tokenizerPath ? { tokenizerPath: input.tokenizerPath } : {}),
    },
    options,
  );
}
