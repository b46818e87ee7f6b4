import { InvalidArgumentError, Rng, ShapeError } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy } from './nn.js';
import {
  type ScratchRunOptions,
  type ScratchTrainOptions,
  type ScratchTrainResult,
  trainScratchSteps,
} from './trainer.js';
import { patchify, type ScratchVit } from './vit.js';

/** Labelled square images as bytes — the shape of `loadMnist()`'s splits in @blastkit/assets. */
export interface ImageSplit {
  count: number;
  rows: number;
  cols: number;
  images: Uint8Array;
  labels: Uint8Array;
}

function checkSplit(data: ImageSplit, model: ScratchVit): void {
  const side = model.config.imageSize;
  if (data.rows !== side || data.cols !== side)
    throw new ShapeError(`images are ${data.rows}×${data.cols}, the model takes ${side}×${side}`);
  if (data.images.length !== data.count * side * side || data.labels.length !== data.count)
    throw new ShapeError(
      `image split: ${data.images.length} image bytes and ${data.labels.length} labels for ${data.count} images`,
    );
}

/** A permutation of 0…count−1 for one epoch, a function of (seed, epoch) alone (Fisher–Yates, core's Rng). */
export function epochOrder(count: number, seed: number, epoch: number): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  const rng = new Rng(seed * 100_003 + epoch);
  for (let i = count - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/**
 * The example indices of training step `step`: epochs are fresh permutations, cut into full batches (the
 * remainder of an epoch is dropped so every step has the same batch size).
 */
export function makeBatchSampler(count: number, batchSize: number, seed: number) {
  const perEpoch = Math.floor(count / batchSize);
  if (perEpoch < 1) throw new InvalidArgumentError(`batch size ${batchSize} exceeds the ${count} examples`);
  let cached: { epoch: number; order: Uint32Array } | undefined;
  return (step: number): Uint32Array => {
    const epoch = Math.floor(step / perEpoch);
    if (cached?.epoch !== epoch) cached = { epoch, order: epochOrder(count, seed, epoch) };
    const at = (step % perEpoch) * batchSize;
    return cached.order.subarray(at, at + batchSize);
  };
}

/** Trains a ViT classifier on an image split (cross-entropy, AdamW, cosine schedule). */
export async function trainVit(
  model: ScratchVit,
  data: ImageSplit,
  options: ScratchTrainOptions,
  run: ScratchRunOptions = {},
): Promise<ScratchTrainResult> {
  checkSplit(data, model);
  const batchAt = makeBatchSampler(data.count, options.batchSize, options.seed);
  const { imageSize, patchSize } = model.config;
  const lossAt = (step: number) => {
    const indices = batchAt(step);
    const x = tf.tensor2d(patchify(data.images, imageSize, patchSize, indices), [
      indices.length * model.patches,
      model.patchPixels,
    ]);
    return crossEntropy(
      model.logits(x),
      Int32Array.from(indices, (i) => data.labels[i]),
    );
  };
  // the data is identified by its size and a cheap fingerprint, so a checkpoint is not resumed on other data
  return trainScratchSteps(model, lossAt, options, run, `images:${data.count}:${fingerprint(data.labels)}`);
}

/** Accuracy and mean cross-entropy on a whole split (or its first `limit` images), in batches. */
export function evaluateVit(
  model: ScratchVit,
  data: ImageSplit,
  options: { batchSize?: number; limit?: number } = {},
): { accuracy: number; loss: number; count: number } {
  checkSplit(data, model);
  const count = Math.min(options.limit ?? data.count, data.count);
  const batchSize = options.batchSize ?? 500;
  const { imageSize, patchSize } = model.config;
  let correct = 0;
  let lossSum = 0;
  for (let start = 0; start < count; start += batchSize) {
    const indices = Uint32Array.from({ length: Math.min(batchSize, count - start) }, (_, i) => start + i);
    const labels = Int32Array.from(indices, (i) => data.labels[i]);
    const [predicted, loss] = tf.tidy(() => {
      const x = tf.tensor2d(patchify(data.images, imageSize, patchSize, indices), [
        indices.length * model.patches,
        model.patchPixels,
      ]);
      const logits = model.logits(x);
      return [tf.argMax(logits, 1), crossEntropy(logits, labels)];
    });
    const p = predicted.dataSync();
    for (let i = 0; i < labels.length; i++) if (p[i] === labels[i]) correct++;
    lossSum += (loss.dataSync()[0] as number) * labels.length;
    predicted.dispose();
    loss.dispose();
  }
  return { accuracy: correct / count, loss: lossSum / count, count };
}

/** FNV-1a over the values: identifies a data set in a checkpoint key without hashing megabytes twice. */
export function fingerprint(bytes: Uint8Array | Int32Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  return h.toString(16);
}
