import { InvalidArgumentError, ShapeError } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { createStructuredLinear, type StructuredLinear } from '../layers.js';
import {
  LayerNorm,
  linearParams,
  normalVariable,
  type ScratchParam,
  type StructureSpec,
  type TransformerBlock,
  transformerStack,
} from './nn.js';

/** A small Vision Transformer for single-channel images (MNIST). */
export interface VitConfig {
  /** Square image side (28 for MNIST). */
  imageSize: number;
  /** Square patch side; must divide imageSize (4 → 49 patches, 7 → 16 for MNIST). */
  patchSize: number;
  dim: number;
  depth: number;
  heads: number;
  /** MLP hidden width as a multiple of dim. */
  mlpRatio: number;
  classes: number;
  /** How q, k, v, o, fc1 and fc2 of every block are structured; patch embedding and head stay dense. */
  structure: StructureSpec;
  seed: number;
}

/** Parameter and FLOP accounting of a from-scratch model. */
export interface ModelCounts {
  /** Every trainable parameter. */
  parameters: number;
  /** Parameters of the transformer blocks' structured projections (q, k, v, o, fc1, fc2), biases included. */
  blockLinearParameters: number;
  /** FLOPs (2 per multiply-add) of those projections for one example (an image, or one token for the GPT). */
  blockLinearFlops: number;
  /** FLOPs of one example's forward pass: every linear layer plus the attention matmuls. */
  forwardFlops: number;
}

/** Checks a config and fills nothing in: every field is explicit so a run is described by its config alone. */
function checkVitConfig(c: VitConfig): void {
  for (const key of ['imageSize', 'patchSize', 'dim', 'depth', 'heads', 'mlpRatio', 'classes'] as const) {
    const v = c[key];
    if (!Number.isInteger(v) || v <= 0)
      throw new InvalidArgumentError(`ViT config: ${key} must be a positive integer, got ${v}`);
  }
  if (c.imageSize % c.patchSize !== 0)
    throw new InvalidArgumentError(
      `ViT config: patchSize ${c.patchSize} does not divide imageSize ${c.imageSize}`,
    );
}

/**
 * A pre-norm ViT: non-overlapping patches → linear embedding + learned position embedding → `depth`
 * transformer blocks → final layer norm → mean over patches → linear classifier. Mean pooling instead of a
 * class token keeps every token a patch (one fewer sequence position, same accuracy at this size).
 */
export class ScratchVit {
  readonly patches: number;
  readonly patchPixels: number;
  readonly embed: StructuredLinear;
  readonly position: tf.Variable;
  readonly blocks: TransformerBlock[];
  readonly norm: LayerNorm;
  readonly head: StructuredLinear;

  constructor(readonly config: VitConfig) {
    checkVitConfig(config);
    const { imageSize, patchSize, dim, classes, seed } = config;
    this.patches = (imageSize / patchSize) ** 2;
    this.patchPixels = patchSize * patchSize;
    const dense = (inFeatures: number, outFeatures: number, s: number) =>
      createStructuredLinear({ kind: 'dense', inFeatures, outFeatures, bias: true, seed: s });
    this.embed = dense(this.patchPixels, dim, seed * 1000 + 1);
    // N(0, 1) as in lucidrains/vit-pytorch: at GPT-2's 0.02 the positions are invisible next to patch
    // embeddings of unit scale, and a small ViT trained briefly ends up nearly permutation-invariant
    this.position = normalVariable([this.patches, dim], 1, seed * 1000 + 2);
    this.blocks = transformerStack(config, false, 'blocks');
    this.norm = new LayerNorm(dim);
    this.head = dense(dim, classes, seed * 1000 + 3);
  }

  /** patches [batch·patches, patchPixels] (see `patchify`) → logits [batch, classes]. */
  logits(patches: tf.Tensor2D): tf.Tensor2D {
    const { dim } = this.config;
    if (patches.rank !== 2 || patches.shape[1] !== this.patchPixels || patches.shape[0] % this.patches !== 0)
      throw new ShapeError(
        `ViT: input has shape [${patches.shape}], expected [batch·${this.patches}, ${this.patchPixels}]`,
      );
    const batch = patches.shape[0] / this.patches;
    return tf.tidy(() => {
      const e = tf.reshape(this.embed.apply(patches), [batch, this.patches, dim]);
      let x = tf.reshape(tf.add(e, this.position), [batch * this.patches, dim]) as tf.Tensor2D;
      for (const block of this.blocks) x = block.apply(x, batch, this.patches);
      const pooled = tf.mean(tf.reshape(this.norm.apply(x), [batch, this.patches, dim]), 1) as tf.Tensor2D;
      return this.head.apply(pooled);
    });
  }

  /** Every trainable tensor with its checkpoint name, in a fixed order. */
  params(): ScratchParam[] {
    return [
      ...linearParams(this.embed, 'patch_embed'),
      { name: 'pos_embed', variable: this.position, decay: false },
      ...this.blocks.flatMap((b) => b.params()),
      ...this.norm.params('norm'),
      ...linearParams(this.head, 'head'),
    ];
  }

  counts(): ModelCounts {
    const blockLinears = this.blocks.flatMap((b) => b.linears());
    const blockLinearFlops = blockLinears.reduce((s, l) => s + l.flopsPerRow(), 0) * this.patches;
    const attention = this.blocks.reduce((s, b) => s + b.attentionFlops(this.patches), 0);
    return {
      parameters: this.params().reduce((s, p) => s + p.variable.size, 0),
      blockLinearParameters: blockLinears.reduce((s, l) => s + l.parameterCount(), 0),
      blockLinearFlops,
      forwardFlops:
        blockLinearFlops + attention + this.embed.flopsPerRow() * this.patches + this.head.flopsPerRow(),
    };
  }

  dispose(): void {
    this.embed.dispose();
    this.position.dispose();
    for (const b of this.blocks) b.dispose();
    this.norm.dispose();
    this.head.dispose();
  }
}

/** MNIST's training-set pixel mean and standard deviation (of x/255), the usual normalisation. */
export const MNIST_MEAN = 0.1307;
export const MNIST_STD = 0.3081;

/**
 * Cuts the images at `indices` of a uint8 image array (count·side·side bytes) into non-overlapping
 * patch×patch patches, normalised as (x/255 − mean)/std: [indices.length·patches, patch²], patches in
 * row-major order, pixels row-major within a patch. Done on the host so the engine never needs a rank-5
 * transpose.
 */
export function patchify(
  images: Uint8Array,
  side: number,
  patch: number,
  indices: ArrayLike<number>,
  mean = MNIST_MEAN,
  std = MNIST_STD,
): Float32Array {
  if (side % patch !== 0)
    throw new InvalidArgumentError(`patchify: patch ${patch} does not divide side ${side}`);
  const pixels = side * side;
  const count = images.length / pixels;
  if (!Number.isInteger(count))
    throw new ShapeError(`patchify: ${images.length} bytes is not a whole number of ${side}×${side} images`);
  const grid = side / patch;
  const out = new Float32Array(indices.length * pixels);
  const scale = 1 / (255 * std);
  const shift = mean / std;
  let o = 0;
  for (let n = 0; n < indices.length; n++) {
    const index = indices[n];
    if (!(index >= 0 && index < count))
      throw new InvalidArgumentError(`patchify: image ${index} of ${count}`);
    const base = index * pixels;
    for (let gy = 0; gy < grid; gy++)
      for (let gx = 0; gx < grid; gx++)
        for (let y = 0; y < patch; y++) {
          const row = base + (gy * patch + y) * side + gx * patch;
          for (let x = 0; x < patch; x++) out[o++] = images[row + x] * scale - shift;
        }
  }
  return out;
}
