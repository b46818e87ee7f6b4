import {
  type Backend,
  type BackendTensor,
  InvalidArgumentError,
  Rng,
  ShapeError,
  Tensor,
} from '@blastkit/core';
import { checkAborted, logSoftmax, topK } from './stats.js';

/** What classification metrics need from an image classifier: the ViT adapter of @blastkit/models fits. */
export interface ImageClassifier {
  readonly backend: Backend;
  readonly config: { readonly numLabels: number; readonly numChannels: number; readonly imageSize: number };
  /** pixels [batch, channels, size, size] → logits [batch, numLabels] on the backend. */
  forward(pixels: Tensor): BackendTensor;
}

export interface ClassificationProtocol {
  images: number;
  /** 'given', or how the images were drawn (seeded N(0, 1) pixels when there is no data). */
  source: string;
  seed: number | null;
  /** Whether accuracies are against true labels (false: only agreement with the reference is measured). */
  labelled: boolean;
  /** k of the top-k accuracy (5, or the number of classes when smaller). */
  k: number;
  batchSize: number;
}

/** Accuracy against the labels: top-1 and top-k (the label among the k highest logits). */
export interface Accuracy {
  top1: number;
  topK: number;
}

export interface ClassificationResult {
  protocol: ClassificationProtocol;
  /** Accuracy of the evaluated model against the labels (null without labels). */
  candidate: Accuracy | null;
  /** Accuracy of the reference against the labels (null without labels or without a reference). */
  reference: Accuracy | null;
  /**
   * Agreement with the reference's predictions (null without a reference): top-1, the same class on top;
   * topK, the reference's top class among the candidate's k highest; the mean KL(reference ‖ candidate) of
   * the class distributions, nats.
   */
  agreement: { top1: number; topK: number; klDivergence: number } | null;
}

export interface ClassificationOptions {
  /** True classes of the images, one per image. */
  labels?: Int32Array | readonly number[];
  /** The (dense) model whose predictions the candidate's are compared with. */
  reference?: ImageClassifier;
  /** Images per forward (default 16). */
  batchSize?: number;
  /** Highest-k accuracy (default 5, capped at the number of classes). */
  k?: number;
  /** Describes the images in the protocol (default 'given'). */
  source?: string;
  seed?: number | null;
  onBatch?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/**
 * Top-1/top-k accuracy of an image classifier on labelled images, and/or its agreement with a reference model's
 * predictions on the same images, in batches.
 */
export async function classificationMetrics(
  model: ImageClassifier,
  images: Tensor,
  options: ClassificationOptions = {},
): Promise<ClassificationResult> {
  const c = model.config;
  const s = images.shape;
  if (s.length !== 4 || s[1] !== c.numChannels || s[2] !== c.imageSize || s[3] !== c.imageSize || s[0] < 1)
    throw new ShapeError(
      `images have shape [${s}], expected [images, ${c.numChannels}, ${c.imageSize}, ${c.imageSize}]`,
    );
  const N = s[0];
  const V = c.numLabels;
  const labels = options.labels === undefined ? undefined : Int32Array.from(options.labels);
  if (labels !== undefined) {
    if (labels.length !== N) throw new InvalidArgumentError(`${labels.length} labels for ${N} images`);
    for (const [i, y] of labels.entries())
      if (!(y >= 0 && y < V))
        throw new InvalidArgumentError(`label ${y} of image ${i} is outside the ${V} classes`);
  }
  const ref = options.reference;
  if (ref && ref.config.numLabels !== V)
    throw new InvalidArgumentError(`the reference has ${ref.config.numLabels} classes, the model ${V}`);
  if (labels === undefined && ref === undefined)
    throw new InvalidArgumentError('nothing to measure: give labels, a reference model, or both');
  const k = Math.min(options.k ?? 5, V);
  const batchSize = options.batchSize ?? 16;
  if (!(Number.isInteger(batchSize) && batchSize >= 1))
    throw new InvalidArgumentError(`batch size ${batchSize} is not a positive integer`);
  const per = images.size / N;
  let candTop1 = 0;
  let candTopK = 0;
  let refTop1 = 0;
  let refTopK = 0;
  let agreeTop1 = 0;
  let agreeTopK = 0;
  let kl = 0;
  for (let start = 0; start < N; start += batchSize) {
    checkAborted(options.signal);
    const B = Math.min(batchSize, N - start);
    const batch = new Tensor([B, ...s.slice(1)], images.data.slice(start * per, (start + B) * per));
    const logits = await run(model, batch);
    const refLogits = ref ? await run(ref, batch) : undefined;
    for (let b = 0; b < B; b++) {
      const top = topK(logits, b * V, V, k);
      const y = labels?.[start + b];
      if (y !== undefined) {
        if (top[0] === y) candTop1++;
        if (top.includes(y)) candTopK++;
      }
      if (refLogits) {
        const refTop = topK(refLogits, b * V, V, k);
        if (y !== undefined) {
          if (refTop[0] === y) refTop1++;
          if (refTop.includes(y)) refTopK++;
        }
        if (refTop[0] === top[0]) agreeTop1++;
        if (top.includes(refTop[0])) agreeTopK++;
        const p = logSoftmax(refLogits, b * V, V);
        const q = logSoftmax(logits, b * V, V);
        for (let j = 0; j < V; j++) kl += Math.exp(p[j]) * (p[j] - q[j]);
      }
    }
    options.onBatch?.(start + B, N);
  }
  return {
    protocol: {
      images: N,
      source: options.source ?? 'given',
      seed: options.seed ?? null,
      labelled: labels !== undefined,
      k,
      batchSize,
    },
    candidate: labels ? { top1: candTop1 / N, topK: candTopK / N } : null,
    reference: labels && ref ? { top1: refTop1 / N, topK: refTopK / N } : null,
    agreement: ref ? { top1: agreeTop1 / N, topK: agreeTopK / N, klDivergence: kl / N } : null,
  };
}

async function run(model: ImageClassifier, batch: Tensor): Promise<Float32Array> {
  const h = model.forward(batch);
  const out = await model.backend.download(h);
  model.backend.dispose(h);
  return out.data;
}

/**
 * `count` images of N(0, 1) pixels from a seeded Rng: the input when there is no data. The ViT adapters take
 * pixels already normalized (mean 0, unit-ish variance per channel), so this is in-range noise, not images.
 */
export function seededImages(
  config: { readonly numChannels: number; readonly imageSize: number },
  count: number,
  seed: number,
): Tensor {
  if (!(Number.isInteger(count) && count >= 1))
    throw new InvalidArgumentError(`image count ${count} is not a positive integer`);
  const shape = [count, config.numChannels, config.imageSize, config.imageSize];
  const t = new Tensor(shape);
  new Rng(seed).fillNormal(t.data);
  return t;
}
