import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureGradients } from '../src/engine/gradients.js';
import type { StructuredKind } from '../src/layers.js';
import {
  ByteTokenizer,
  crossEntropy,
  epochOrder,
  evaluateGpt,
  evaluateVit,
  type ImageSplit,
  makeBatchSampler,
  patchify,
  projectionSpec,
  ScratchGpt,
  type ScratchTrainOptions,
  ScratchVit,
  type StructureSpec,
  splitTokens,
  trainGpt,
  trainScratchSteps,
  trainVit,
  type VitConfig,
} from '../src/scratch/index.js';

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  ensureGradients();
  dir = await mkdtemp(join(tmpdir(), 'blastkit-scratch-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const KINDS: StructuredKind[] = ['dense', 'lowrank', 'monarch', 'blast'];
const structure = (kind: StructuredKind): StructureSpec =>
  kind === 'dense' ? { kind } : { kind, fraction: 1 / 3, blocks: 4 };

/** A ViT small enough for the JavaScript engine: 14×14 images, patch 7 (4 tokens), width 32. */
function tinyVit(kind: StructuredKind, seed = 1): ScratchVit {
  const config: VitConfig = {
    imageSize: 14,
    patchSize: 7,
    dim: 32,
    depth: 1,
    heads: 2,
    mlpRatio: 2,
    classes: 10,
    structure: structure(kind),
    seed,
  };
  return new ScratchVit(config);
}

/** Synthetic images whose class decides which quadrant is bright: learnable in a few steps. */
function quadrantImages(count: number, side = 14): ImageSplit {
  const images = new Uint8Array(count * side * side);
  const labels = new Uint8Array(count);
  const half = side / 2;
  for (let n = 0; n < count; n++) {
    const label = n % 4;
    labels[n] = label;
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++) {
        const quadrant = (y < half ? 0 : 2) + (x < half ? 0 : 1);
        images[n * side * side + y * side + x] =
          quadrant === label ? 200 + ((x * y + n) % 50) : (x + y + n) % 30;
      }
  }
  return { count, rows: side, cols: side, images, labels };
}

function values(model: { params(): { variable: tf.Variable }[] }): Float32Array[] {
  return model.params().map((p) => Float32Array.from(p.variable.dataSync() as Float32Array));
}

function lossOn(model: ScratchVit, data: ImageSplit, indices: number[]): number {
  return tf.tidy(() => {
    const x = tf.tensor2d(patchify(data.images, 14, 7, indices), [
      indices.length * model.patches,
      model.patchPixels,
    ]);
    return crossEntropy(
      model.logits(x),
      Int32Array.from(indices, (i) => data.labels[i]),
    ).dataSync()[0];
  });
}

describe('ScratchVit', () => {
  it('maps a batch of images to class logits, for every kind', () => {
    const data = quadrantImages(3);
    for (const kind of KINDS) {
      const model = tinyVit(kind);
      const x = tf.tensor2d(patchify(data.images, 14, 7, [0, 1, 2]), [3 * 4, 49]);
      const logits = model.logits(x);
      expect(logits.shape).toEqual([3, 10]);
      expect(Array.from(logits.dataSync()).every(Number.isFinite)).toBe(true);
      tf.dispose([x, logits]);
      expect(() => model.logits(tf.zeros([5, 49]) as tf.Tensor2D)).toThrow(/expected \[batch·4, 49\]/);
      model.dispose();
    }
  });

  it('gives the structured kinds ~1/3 of the dense block parameters and FLOPs, equal to each other', () => {
    const counts = Object.fromEntries(
      KINDS.map((k) => {
        const m = new ScratchVit({ ...tinyVit(k).config, dim: 96, depth: 2, heads: 4, mlpRatio: 4 });
        const c = m.counts();
        m.dispose();
        return [k, c];
      }),
    );
    const dense = counts.dense;
    for (const kind of ['lowrank', 'monarch', 'blast']) {
      const c = counts[kind];
      // biases (96·5 per block… ) are kept whole, so the ratio sits a little above 1/3
      expect(c.blockLinearParameters / dense.blockLinearParameters).toBeGreaterThan(0.3);
      expect(c.blockLinearParameters / dense.blockLinearParameters).toBeLessThan(0.36);
      expect(c.blockLinearFlops / dense.blockLinearFlops).toBeGreaterThan(0.3);
      expect(c.blockLinearFlops / dense.blockLinearFlops).toBeLessThan(0.34);
      // equal parameter counts up to the rank's rounding (one rank step of the largest layer)
      expect(Math.abs(c.blockLinearParameters - counts.blast.blockLinearParameters)).toBeLessThan(
        0.06 * counts.blast.blockLinearParameters,
      );
    }
    // dense: 2 blocks × (4·96² + 2·96·384) weights + biases (3·96·... ) — computed independently here
    const d = 96;
    const perBlock = 4 * d * d + 2 * d * 4 * d + (4 * d + 4 * d + d);
    expect(dense.blockLinearParameters).toBe(2 * perBlock);
    expect(dense.blockLinearFlops).toBe(2 * 2 * (4 * d * d + 2 * d * 4 * d) * 4);
  });

  it('is a function of its seed', () => {
    for (const kind of KINDS) {
      const a = tinyVit(kind, 7);
      const b = tinyVit(kind, 7);
      const c = tinyVit(kind, 8);
      expect(values(a)).toEqual(values(b));
      expect(values(a)).not.toEqual(values(c));
      for (const m of [a, b, c]) m.dispose();
    }
  });
});

describe('from-scratch training', () => {
  const options: ScratchTrainOptions = {
    steps: 1,
    batchSize: 8,
    lr: 3e-3,
    warmupSteps: 0,
    seed: 0,
  };

  it('one AdamW step lowers the loss on a fixed batch, for every kind', async () => {
    const data = quadrantImages(8);
    const batch = [0, 1, 2, 3, 4, 5, 6, 7];
    for (const kind of KINDS) {
      const model = tinyVit(kind);
      const before = lossOn(model, data, batch);
      const lossAt = () =>
        crossEntropy(
          model.logits(tf.tensor2d(patchify(data.images, 14, 7, batch), [32, 49])),
          Int32Array.from(batch, (i) => data.labels[i]),
        );
      const r = await trainScratchSteps(model, lossAt, options);
      expect(r.losses[0]).toBeCloseTo(before, 5);
      const after = lossOn(model, data, batch);
      expect(after).toBeLessThan(before - 0.01);
      model.dispose();
    }
  });

  it('learns a synthetic task, deterministically, and resumes from a checkpoint to the same weights', async () => {
    const train = quadrantImages(64);
    const test = quadrantImages(32);
    const opts: ScratchTrainOptions = { steps: 12, batchSize: 16, lr: 1e-2, warmupSteps: 2, seed: 3 };
    const straight = tinyVit('blast');
    const r1 = await trainVit(straight, train, opts);
    expect(r1.step).toBe(12);
    expect(r1.losses.slice(-3).reduce((a, b) => a + b) / 3).toBeLessThan(r1.losses[0] * 0.5);
    expect(evaluateVit(straight, test).accuracy).toBeGreaterThan(0.9);

    // the same run, interrupted after 5 steps and resumed in a fresh model object
    const path = join(dir, 'vit.safetensors');
    const stop = new AbortController();
    const first = tinyVit('blast');
    const partial = await trainVit(first, train, opts, {
      checkpoint: { path, every: 100 },
      signal: stop.signal,
      progressEvery: 1,
      onProgress: (p) => p.step === 5 && stop.abort(),
    });
    expect([partial.step, partial.interrupted]).toEqual([5, true]);
    expect(existsSync(path)).toBe(true);
    first.dispose();
    const resumed = tinyVit('blast');
    const r2 = await trainVit(resumed, train, opts, { checkpoint: { path, every: 100 } });
    expect([r2.resumedFrom, r2.step, r2.interrupted]).toEqual([5, 12, false]);
    expect(r2.losses).toEqual(r1.losses);
    expect(values(resumed)).toEqual(values(straight));

    // a checkpoint of another run is refused, not resumed
    const other = tinyVit('blast', 2);
    await expect(trainVit(other, train, opts, { checkpoint: { path, every: 100 } })).rejects.toThrow(
      /written by a run with other settings/,
    );
    for (const m of [straight, resumed, other]) m.dispose();
  });

  it('rejects bad options and diverging runs with clear errors', async () => {
    const model = tinyVit('dense');
    const data = quadrantImages(8);
    await expect(trainVit(model, data, { ...options, batchSize: 0 })).rejects.toThrow(
      /batchSize must be a positive/,
    );
    await expect(trainVit(model, data, { ...options, batchSize: 9 })).rejects.toThrow(
      /exceeds the 8 examples/,
    );
    await expect(trainVit(model, { ...data, rows: 28, cols: 28 }, options)).rejects.toThrow(
      /model takes 14×14/,
    );
    const nan = () => tf.mul(tf.addN(model.params().map((p) => tf.sum(p.variable))), Number.NaN) as tf.Scalar;
    await expect(trainScratchSteps(model, nan, options)).rejects.toThrow(/diverged at step 1: loss NaN/);
    model.dispose();
  });
});

describe('data order and inputs', () => {
  it('epochOrder is a seeded permutation; the sampler walks it in full batches', () => {
    const a = epochOrder(100, 5, 0);
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(epochOrder(100, 5, 0)).toEqual(a);
    expect(epochOrder(100, 5, 1)).not.toEqual(a);
    const batchAt = makeBatchSampler(100, 30, 5);
    expect(Array.from(batchAt(1))).toEqual(Array.from(a.subarray(30, 60)));
    // 3 full batches per epoch; step 3 starts epoch 1
    expect(Array.from(batchAt(3))).toEqual(Array.from(epochOrder(100, 5, 1).subarray(0, 30)));
  });

  it('patchify cuts row-major patches and normalises', () => {
    const side = 4;
    const images = Uint8Array.from({ length: 2 * 16 }, (_, i) => i);
    const out = patchify(images, side, 2, [1], 0, 1 / 255); // (x/255 − 0)/(1/255) = x
    // image 1 = bytes 16…31; patch (0,0) is rows 0–1, cols 0–1
    expect(Array.from(out.subarray(0, 4))).toEqual([16, 17, 20, 21]);
    expect(Array.from(out.subarray(4, 8))).toEqual([18, 19, 22, 23]);
    expect(Array.from(out.subarray(12, 16))).toEqual([26, 27, 30, 31]);
    expect(() => patchify(images, side, 3, [0])).toThrow(/does not divide/);
    expect(() => patchify(images, side, 2, [2])).toThrow(/image 2 of 2/);
  });

  it('crossEntropy equals −log softmax at the label and skips negative labels', () => {
    const logits = tf.tensor2d([
      [1, 2, 3],
      [0, 0, 0],
      [5, 0, 0],
    ]);
    const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
    const want = (lse - 3 + Math.log(3)) / 2;
    expect(crossEntropy(logits, Int32Array.from([2, 1, -1])).dataSync()[0]).toBeCloseTo(want, 5);
    expect(() => crossEntropy(logits, Int32Array.from([-1, -1, -1]))).toThrow(/every label is ignored/);
    expect(() => crossEntropy(logits, Int32Array.from([0, 3, 1]))).toThrow(/label 1 is 3, beyond 3 classes/);
    expect(() => crossEntropy(logits, Int32Array.from([0, 1]))).toThrow(/2 labels for 3 rows/);
  });

  it('projectionSpec sizes each structured layer to the fraction', () => {
    const s = projectionSpec({ kind: 'blast', fraction: 1 / 3, blocks: 4 }, 128, 512, 1);
    // r(m + n + b²) ≤ 128·512/3 = 21845 → r = ⌊21845 / 656⌋ = 33
    expect([s.rank, s.blocks, s.bias]).toEqual([33, 4, true]);
    expect(projectionSpec({ kind: 'lowrank', fraction: 0.5 }, 100, 100, 1).rank).toBe(25);
    expect(() => projectionSpec({ kind: 'blast', blocks: 4 }, 128, 128, 1)).toThrow(/needs a fraction/);
    expect(() => projectionSpec({ kind: 'monarch', fraction: 0.5 }, 128, 128, 1)).toThrow(
      /needs a block count/,
    );
  });
});

describe('ScratchGpt and the byte tokenizer', () => {
  const config = (kind: StructuredKind, seed = 1) => ({
    vocab: 256,
    context: 16,
    dim: 32,
    depth: 1,
    heads: 2,
    mlpRatio: 2,
    structure: kind === 'dense' ? { kind } : { kind, fraction: 0.5, blocks: 4 },
    seed,
  });

  it('round-trips UTF-8 text through bytes', () => {
    const t = new ByteTokenizer();
    const ids = t.encode('Call me Ishmael — “whale”');
    expect(ids.length).toBe(Buffer.byteLength('Call me Ishmael — “whale”'));
    expect(t.decode(ids)).toBe('Call me Ishmael — “whale”');
  });

  it('is causal: a later token never changes an earlier position’s logits', () => {
    for (const kind of KINDS) {
      const model = new ScratchGpt(config(kind));
      const a = Int32Array.from({ length: 16 }, (_, i) => 65 + i);
      const b = a.slice();
      b[10] = 7;
      const la = model.logits(a, 1, 16).arraySync();
      const lb = model.logits(b, 1, 16).arraySync();
      expect(lb.slice(0, 10)).toEqual(la.slice(0, 10));
      expect(lb[10]).not.toEqual(la[10]);
      expect(() => model.logits(a, 1, 17)).toThrow(/17 ids|exceed the context/);
      expect(() => model.logits(Int32Array.from([300]), 1, 1)).toThrow(/outside \[0, 256\)/);
      model.dispose();
    }
  });

  it('one training step lowers the loss on a fixed batch; evaluation reports exp(loss) as perplexity', async () => {
    const text = new ByteTokenizer().encode(
      'the whale, the whale, the white whale; the sea, the sea. '.repeat(8),
    );
    const { train, validation } = splitTokens(text, 0.25);
    expect(train.length + validation.length).toBe(text.length);
    for (const kind of KINDS) {
      const model = new ScratchGpt(config(kind));
      const before = evaluateGpt(model, train, { maxWindows: 4 });
      expect(before.perplexity).toBeCloseTo(Math.exp(before.loss), 6);
      expect(before.bitsPerToken).toBeCloseTo(before.loss / Math.LN2, 6);
      expect(before.tokens).toBe(4 * 16);
      // a fresh model is close to uniform over 256 bytes
      expect(before.loss).toBeGreaterThan(Math.log(256) - 0.5);
      const lossAt = () => {
        const ids = train.subarray(0, 64);
        const targets = train.subarray(1, 65);
        return crossEntropy(model.logits(ids, 4, 16), targets);
      };
      await trainScratchSteps(model, lossAt, { steps: 1, batchSize: 4, lr: 2e-3, warmupSteps: 0, seed: 0 });
      const after = evaluateGpt(model, train, { maxWindows: 4 });
      expect(after.loss).toBeLessThan(before.loss - 0.01);
      model.dispose();
    }
  });

  it('trains deterministically on a token stream', async () => {
    const text = new ByteTokenizer().encode('abcdefghij'.repeat(40));
    const run = async () => {
      const model = new ScratchGpt(config('blast', 3));
      const r = await trainGpt(model, text, { steps: 4, batchSize: 4, lr: 5e-3, warmupSteps: 1, seed: 9 });
      const w = values(model);
      model.dispose();
      return { losses: r.losses, w };
    };
    const a = await run();
    const b = await run();
    expect(a).toEqual(b);
    expect(a.losses[3]).toBeLessThan(a.losses[0]);
  });

  it('generates greedily and by seeded sampling', () => {
    const model = new ScratchGpt(config('lowrank'));
    const prompt = new ByteTokenizer().encode('Call me');
    const g1 = model.generate(prompt, 20);
    expect(g1.length).toBe(20);
    expect(model.generate(prompt, 20)).toEqual(g1);
    const s1 = model.generate(prompt, 20, { temperature: 1, seed: 4 });
    expect(model.generate(prompt, 20, { temperature: 1, seed: 4 })).toEqual(s1);
    expect(s1).not.toEqual(model.generate(prompt, 20, { temperature: 1, seed: 5 }));
    model.dispose();
  });
});
