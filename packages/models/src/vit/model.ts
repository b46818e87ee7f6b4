import { join } from 'node:path';
import {
  type Backend,
  type BackendTensor,
  CpuBackend,
  formatShape,
  ShapeError,
  type StructuredMatrix,
  Tensor,
} from '@blastkit/core';
import { readHfConfig, SafetensorsSource } from '../hf/safetensors-source.js';
import { applyLinear, disposeLinear, loadLinear, type UploadedLinear } from '../linear.js';
import { checkedReader, ModelFormatError, type TensorSource } from '../tensor-source.js';
import {
  VIT_LINEAR_MODULES,
  VIT_PATCH_PROJECTION,
  type VitConfig,
  vitConfigFromHf,
  vitGridSize,
  vitLinearShapes,
  vitSequenceLength,
  vitWeightShapes,
} from './config.js';

export interface VitLoadOptions {
  backend?: Backend;
  /**
   * Structured matrices replacing linears, by module name (e.g. `vit.encoder.layer.0.intermediate.dense`,
   * `vit.embeddings.patch_embeddings.projection` as [hidden, channels·p·p], `classifier`): those weights are
   * not read from the source at all (their biases still are), and the layer runs through the structure's own
   * forward.
   */
  replacements?: ReadonlyMap<string, StructuredMatrix>;
  /** Name of the weight file, for error messages. */
  file?: string;
}

export interface VitForwardOptions {
  /**
   * Called with a copy of the input [rows, in] of every linear, by module name — how calibration activations
   * are collected (the decoders' hook). The observer owns the copy: download it, then dispose it.
   */
  observe?: (module: string, input: BackendTensor) => void;
}

/** A linear layer with its optional bias: y = x·Wᵀ + b. */
interface Affine {
  /** Module name, for the observer. */
  module: string;
  linear: UploadedLinear;
  bias?: BackendTensor;
}

interface Norm {
  weight: BackendTensor;
  bias: BackendTensor;
}

interface LayerWeights {
  before: Norm;
  after: Norm;
  linears: Record<(typeof VIT_LINEAR_MODULES)[number], Affine>;
}

/**
 * A ViT image classifier (Hugging Face ViTForImageClassification semantics: stride-p patch embedding, CLS
 * token, learned positions, pre-LayerNorm encoder blocks, final LayerNorm, linear head on the CLS token) on
 * any core Backend.
 */
export class VitModel {
  private constructor(
    readonly config: VitConfig,
    readonly backend: Backend,
    private readonly cls: BackendTensor,
    private readonly positions: BackendTensor,
    private readonly patch: Affine,
    private readonly layers: LayerWeights[],
    private readonly finalNorm: Norm,
    private readonly classifier: Affine,
  ) {}

  /** Loads every weight from `source`, checking names and shapes, one tensor at a time. */
  static async load(
    source: TensorSource,
    config: VitConfig,
    options: VitLoadOptions = {},
  ): Promise<VitModel> {
    const be = options.backend ?? new CpuBackend();
    const file = options.file ?? 'model';
    const replacements = options.replacements ?? new Map<string, StructuredMatrix>();
    const shapes = vitWeightShapes(config);
    const linearShapes = vitLinearShapes(config);
    for (const name of replacements.keys())
      if (!linearShapes.has(name)) throw new ModelFormatError(file, `no linear '${name}' to replace`);
    const read = checkedReader(source, shapes, file);
    // weights are uploaded as they are read, so a failure part-way must free what is already on the backend
    const uploaded: BackendTensor[] = [];
    const linears: UploadedLinear[] = [];
    const upload = (t: Tensor): BackendTensor => {
      const h = be.upload(t);
      uploaded.push(h);
      return h;
    };
    const norm = async (name: string): Promise<Norm> => ({
      weight: upload(await read(`${name}.weight`)),
      bias: upload(await read(`${name}.bias`)),
    });
    const affine = async (module: string): Promise<Affine> => {
      const expected = linearShapes.get(module) as [number, number];
      // the patch projection's conv weight [H, C, p, p] flattens to the [H, C·p·p] the host patches need
      const linear = await loadLinear(be, file, module, expected, replacements.get(module), async () =>
        (await read(`${module}.weight`)).reshape(expected),
      );
      linears.push(linear);
      const bias = shapes.has(`${module}.bias`) ? upload(await read(`${module}.bias`)) : undefined;
      return { module, linear, bias };
    };
    try {
      const T = vitSequenceLength(config);
      const H = config.hiddenSize;
      const cls = upload((await read('vit.embeddings.cls_token')).reshape([1, H]));
      const positions = upload((await read('vit.embeddings.position_embeddings')).reshape([T, H]));
      const patch = await affine(VIT_PATCH_PROJECTION);
      const layers: LayerWeights[] = [];
      for (let l = 0; l < config.numLayers; l++) {
        const p = `vit.encoder.layer.${l}`;
        const layerLinears = {} as LayerWeights['linears'];
        for (const suffix of VIT_LINEAR_MODULES) layerLinears[suffix] = await affine(`${p}.${suffix}`);
        layers.push({
          before: await norm(`${p}.layernorm_before`),
          after: await norm(`${p}.layernorm_after`),
          linears: layerLinears,
        });
      }
      const finalNorm = await norm('vit.layernorm');
      const classifier = await affine('classifier');
      return new VitModel(config, be, cls, positions, patch, layers, finalNorm, classifier);
    } catch (err) {
      for (const h of uploaded) be.dispose(h);
      for (const w of linears) disposeLinear(be, w);
      throw err;
    }
  }

  /**
   * Classifies a batch of images `pixels` [batch, channels, height, width] (float32, already normalized as
   * the model's image processor would) → logits [batch, numLabels] on the backend.
   */
  forward(pixels: Tensor, options: VitForwardOptions = {}): BackendTensor {
    const be = this.backend;
    const { observe } = options;
    // the observer gets its own copy (it may read it back asynchronously after this pass frees the input)
    const affine = (x: BackendTensor, a: Affine): BackendTensor => {
      if (observe) observe(a.module, be.scale(x, 1));
      return this.affine(x, a);
    };
    const c = this.config;
    const S = c.imageSize;
    const s = pixels.shape;
    if (s.length !== 4 || s[1] !== c.numChannels || s[2] !== S || s[3] !== S)
      throw new ShapeError(
        `ViT input pixels have shape ${formatShape(s)}, expected [batch, ${c.numChannels}, ${S}, ${S}] ` +
          `(channels first, images of the model's image_size; resize them first)`,
      );
    const B = s[0];
    if (B === 0) throw new ShapeError('ViT input pixels hold no images (batch size 0)');
    const H = c.hiddenSize;
    const T = vitSequenceLength(c);
    const P = T - 1;
    const temps: BackendTensor[] = [];
    const t = <X extends BackendTensor>(h: X): X => {
      temps.push(h);
      return h;
    };
    const free = () => {
      for (const h of new Set(temps.splice(0))) be.dispose(h);
    };

    const patches = t(affine(t(be.upload(patchify(pixels, c))), this.patch));
    // rows [CLS, patches of image 0, CLS, patches of image 1, …], each image's rows + the positions; x is a
    // fresh tensor, not a reshape, since a reshape may share the memory of a temporary freed below
    const images: BackendTensor[] = [];
    for (let b = 0; b < B; b++) {
      const rows = t(be.concat([this.cls, t(be.slice(patches, [b * P, 0], [P, H]))], 0));
      images.push(t(be.add(rows, this.positions)));
    }
    let x = be.concat(images, 0);
    free();

    for (const layer of this.layers) {
      const L = layer.linears;
      const h = t(be.layerNorm(x, layer.before.weight, layer.before.bias, c.layerNormEps));
      const q = t(affine(h, L['attention.attention.query']));
      const k = t(affine(h, L['attention.attention.key']));
      const v = t(affine(h, L['attention.attention.value']));
      // the attention op has no batch axis: one call per image, every token seeing every other
      const heads = (y: BackendTensor, b: number) =>
        t(be.reshape(t(be.slice(y, [b * T, 0], [T, H])), [T, c.numHeads, c.headDim]));
      const outs: BackendTensor[] = [];
      for (let b = 0; b < B; b++) {
        const att = t(be.attention(heads(q, b), heads(k, b), heads(v, b), { causal: false }));
        outs.push(t(be.reshape(att, [T, H])));
      }
      const att = B === 1 ? outs[0] : t(be.concat(outs, 0));
      const x1 = t(be.add(x, t(affine(att, L['attention.output.dense']))));
      const h2 = t(be.layerNorm(x1, layer.after.weight, layer.after.bias, c.layerNormEps));
      const mid = t(be.unary(t(affine(h2, L['intermediate.dense'])), c.activation));
      const down = t(affine(mid, L['output.dense']));
      temps.push(x);
      x = be.add(x1, down);
      free();
    }

    // the head reads only the CLS rows; LayerNorm is per row, so normalizing those alone is the same
    temps.push(x);
    const clsRows: BackendTensor[] = [];
    for (let b = 0; b < B; b++) clsRows.push(t(be.slice(x, [b * T, 0], [1, H])));
    const pooled = B === 1 ? clsRows[0] : t(be.concat(clsRows, 0));
    const normed = t(be.layerNorm(pooled, this.finalNorm.weight, this.finalNorm.bias, c.layerNormEps));
    const logits = affine(normed, this.classifier);
    free();
    return logits;
  }

  /** y = x·Wᵀ + b, the bias fused into the dense kernel where there is one. */
  private affine(x: BackendTensor, a: Affine): BackendTensor {
    const be = this.backend;
    if (a.linear.kind === 'dense') return be.linear(x, a.linear.tensors.weight, a.bias);
    const y = applyLinear(be, x, a.linear);
    if (a.bias === undefined) return y;
    const out = be.add(y, a.bias);
    be.dispose(y);
    return out;
  }

  /**
   * Parameters of the encoder linears (the `VIT_LINEAR_MODULES` of every layer, dense or structured) — what
   * compression changes. The patch projection and the classifier are not counted, as Llama's head is not.
   */
  linearParameterCount(): number {
    let n = 0;
    for (const layer of this.layers)
      for (const w of Object.values(layer.linears)) n += w.linear.parameterCount;
    return n;
  }

  /** Frees every weight on the backend. */
  dispose(): void {
    const be = this.backend;
    const affines = [this.patch, this.classifier, ...this.layers.flatMap((l) => Object.values(l.linears))];
    for (const a of affines) {
      disposeLinear(be, a.linear);
      if (a.bias) be.dispose(a.bias);
    }
    const norms = [this.finalNorm, ...this.layers.flatMap((l) => [l.before, l.after])];
    for (const n of norms) {
      be.dispose(n.weight);
      be.dispose(n.bias);
    }
    be.dispose(this.cls);
    be.dispose(this.positions);
  }
}

/**
 * Cuts images [B, C, S, S] into non-overlapping p×p patches, row-major over the grid, each flattened in
 * (C, p, p) order: [B·patches, C·p·p]. Times the conv weight seen as [H, C·p·p], this is the stride-p conv.
 */
export function patchify(pixels: Tensor, c: VitConfig): Tensor {
  const [B, C, S] = pixels.shape;
  const p = c.patchSize;
  const g = vitGridSize(c);
  const cols = C * p * p;
  const out = new Float32Array(B * g * g * cols);
  const src = pixels.data;
  let o = 0;
  for (let b = 0; b < B; b++)
    for (let gy = 0; gy < g; gy++)
      for (let gx = 0; gx < g; gx++)
        for (let ch = 0; ch < C; ch++)
          for (let dy = 0; dy < p; dy++) {
            const row = ((b * C + ch) * S + gy * p + dy) * S + gx * p;
            out.set(src.subarray(row, row + p), o);
            o += p;
          }
  return new Tensor([B * g * g, cols], out);
}

/** A Hugging Face ViTForImageClassification folder (config.json + model.safetensors): config and weights. */
export async function openHfVit(dir: string): Promise<{ config: VitConfig; source: SafetensorsSource }> {
  const config = vitConfigFromHf(await readHfConfig(dir), join(dir, 'config.json'));
  return { config, source: await SafetensorsSource.openFolder(dir) };
}
