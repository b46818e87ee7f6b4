import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchAsset } from '@blastkit/assets';
import {
  BlastMatrix,
  CpuBackend,
  LowRankMatrix,
  MonarchMatrix,
  Rng,
  type StructuredMatrix,
  Tensor,
} from '@blastkit/core';
import {
  LLAMA_LINEAR_SUFFIXES,
  Llama2cCheckpoint,
  type LlamaConfig,
  LlamaModel,
  openHfLlama,
  type TensorSource,
} from '@blastkit/models';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureGradients } from '../src/engine/gradients.js';
import { sampleSequences } from '../src/llama/sample.js';
import { TfLlama } from '../src/llama/tf-llama.js';

// Golden logits of two tiny Llamas computed by transformers (the models package's fixtures, made by
// tools/fixtures): one with GQA and an untied head, one with a tied head and llama3 RoPE scaling.
const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'fixtures');
const golden = JSON.parse(readFileSync(join(fixtures, 'llama-golden.json'), 'utf8')) as Record<
  string,
  number[][]
> & {
  ids: number[];
};

beforeAll(async () => {
  await tf.setBackend('cpu');
  ensureGradients();
});

function relMax(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(got[i] - want[i]));
    s = Math.max(s, Math.abs(want[i]));
  }
  return d / s;
}

/** Random structured replacements for every decoder linear of a config (each kind appears). */
function randomReplacements(
  config: LlamaConfig,
  source: TensorSource,
  rng: Rng,
): Map<string, StructuredMatrix> {
  const out = new Map<string, StructuredMatrix>();
  let i = 0;
  for (let l = 0; l < config.numLayers; l++)
    for (const s of LLAMA_LINEAR_SUFFIXES) {
      const module = `model.layers.${l}.${s}`;
      const [m, n] = source.shapeOf(`${module}.weight`) as [number, number];
      const kind = i++ % 3;
      if (kind === 0) out.set(module, BlastMatrix.random(m, n, 4, 3, rng, 0.3));
      else if (kind === 1) {
        const U = new Tensor([m, 3]);
        const V = new Tensor([n, 3]);
        rng.fillNormal(U.data, 0.3);
        rng.fillNormal(V.data, 0.3);
        out.set(module, new LowRankMatrix(U, V));
      } else {
        const L = new Tensor([2, m / 2, 4]);
        const R = new Tensor([2, 4, n / 2]);
        rng.fillNormal(L.data, 0.3);
        rng.fillNormal(R.data, 0.3);
        out.set(module, new MonarchMatrix(L, R));
      }
    }
  return out;
}

async function referenceLogits(
  source: TensorSource,
  config: LlamaConfig,
  ids: Int32Array,
  replacements?: Map<string, StructuredMatrix>,
) {
  const be = new CpuBackend();
  const model = await LlamaModel.load(source, config, {
    backend: be,
    ...(replacements ? { replacements } : {}),
  });
  const out = await be.download(model.forward(ids, model.newCache()));
  model.dispose();
  return out.data;
}

describe('TfLlama forward', () => {
  for (const name of ['tiny-llama', 'tiny-llama-scaled']) {
    it(`${name}: logits match transformers' golden logits`, async () => {
      const { config, source } = await openHfLlama(join(fixtures, name));
      const model = await TfLlama.load(source, config);
      await source.close();
      const logits = model.logits(Int32Array.from(golden.ids), 1);
      expect(logits.shape).toEqual([golden.ids.length, config.vocabSize]);
      expect(relMax(logits.dataSync(), golden[name].flat())).toBeLessThan(1e-4);
      model.dispose();
    });
  }

  it('batched sequences with BLAST / low-rank / Monarch replacements equal @blastkit/models per sequence', async () => {
    const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama'));
    const replacements = randomReplacements(config, source, new Rng(3));
    const model = await TfLlama.load(source, config, { replacements });
    const rng = new Rng(8);
    const T = 12;
    const ids = Int32Array.from({ length: 3 * T }, () => rng.int(config.vocabSize));
    const got = model.logits(ids, 3).dataSync();
    const V = config.vocabSize;
    for (let b = 0; b < 3; b++) {
      const want = await referenceLogits(source, config, ids.subarray(b * T, (b + 1) * T), replacements);
      expect(relMax(got.subarray(b * T * V, (b + 1) * T * V), want)).toBeLessThan(1e-4);
    }
    // the structure survives the round trip to host matrices unchanged
    const back = model.replacements();
    for (const [k, m] of replacements) {
      expect(back.get(k)?.kind).toBe(m.kind);
      expect(Array.from(back.get(k)!.toDense().data)).toEqual(Array.from(m.toDense().data));
    }
    await source.close();
    model.dispose();
  });

  it('trains factors and norms only: every trainable variable gets a gradient, the embedding none', async () => {
    const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama-scaled'));
    const replacements = randomReplacements(config, source, new Rng(4));
    const model = await TfLlama.load(source, config, { replacements });
    await source.close();
    const vars = model.trainableVariables();
    // 2 layers × 7 linears' factors + 2 norms per layer + the final norm
    const factorCount = [...replacements.values()].reduce(
      (s, m) => s + Object.keys(m.toNamedTensors()).length,
      0,
    );
    expect(vars).toHaveLength(factorCount + 2 * 2 + 1);
    const ids = Int32Array.from([1, 5, 9, 22, 3, 7, 40, 2]);
    const { value, grads } = tf.variableGrads(
      () => tf.mean(tf.square(model.logits(ids, 2))) as tf.Scalar,
      vars,
    );
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    for (const v of vars) {
      const g = grads[v.name].dataSync();
      let norm = 0;
      for (const x of g) norm += x * x;
      expect(norm, v.name).toBeGreaterThan(0);
    }
    model.dispose();
  });

  it('a teacher (trainable: false) has no trainable variables', async () => {
    const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama'));
    const model = await TfLlama.load(source, config, { trainable: false });
    await source.close();
    expect(model.trainableVariables()).toHaveLength(0);
    expect(() => model.logits(Int32Array.from([1, 2, 3]), 2)).toThrow(/equal sequences/);
    expect(() => model.logits(Int32Array.from([1, 999]), 1)).toThrow(/outside the vocabulary/);
    model.dispose();
  });
});

describe('TfLlama decoding', () => {
  for (const name of ['tiny-llama', 'tiny-llama-scaled']) {
    it(`${name}: batched KV-cache decoding gives the full-sequence logits at every position`, async () => {
      const { config, source } = await openHfLlama(join(fixtures, name));
      const model = await TfLlama.load(source, config, { trainable: false });
      await source.close();
      const rng = new Rng(2);
      const B = 3;
      const T = 40; // past one 32-position cache chunk
      const ids = Int32Array.from({ length: B * T }, () => rng.int(config.vocabSize));
      const full = model.logits(ids, B).dataSync();
      const cache = model.newDecodeCache();
      const V = config.vocabSize;
      for (let t = 0; t < T; t++) {
        const step = model
          .decode(
            Int32Array.from({ length: B }, (_, b) => ids[b * T + t]),
            cache,
          )
          .dataSync();
        for (let b = 0; b < B; b++) {
          const want = full.subarray((b * T + t) * V, (b * T + t + 1) * V);
          expect(relMax(step.subarray(b * V, (b + 1) * V), want)).toBeLessThan(1e-5);
        }
      }
      model.disposeDecodeCache(cache);
      model.dispose();
    });
  }

  it('sampleSequences is seeded per sequence and independent of the batch size', async () => {
    const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama'));
    const model = await TfLlama.load(source, config, { trainable: false });
    await source.close();
    const a = await sampleSequences(model, { sequences: 5, length: 12, seed: 3, batch: 2 });
    const b = await sampleSequences(model, { sequences: 5, length: 12, seed: 3, batch: 5 });
    const c = await sampleSequences(model, { sequences: 5, length: 12, seed: 4, batch: 5 });
    expect(a.map((s) => Array.from(s))).toEqual(b.map((s) => Array.from(s)));
    expect(a.map((s) => Array.from(s))).not.toEqual(c.map((s) => Array.from(s)));
    for (const s of a) {
      expect(s).toHaveLength(12);
      expect(s[0]).toBe(1);
    }
    await expect(sampleSequences(model, { sequences: 1, length: 65, seed: 0 })).rejects.toThrow(/length/);
    model.dispose();
  });
});

describe('TfLlama on the real stories15M', () => {
  it('32-token logits equal @blastkit/models LlamaModel', async () => {
    const files = await fetchAsset('stories15M');
    const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
    const model = await TfLlama.load(ck, ck.config, { trainable: false });
    const rng = new Rng(1);
    const ids = Int32Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : rng.int(32000)));
    const got = model.logits(ids, 1).dataSync();
    const want = await referenceLogits(ck, ck.config, ids);
    await ck.close();
    expect(relMax(got, want)).toBeLessThan(1e-4);
    model.dispose();
  }, 120_000);
});
