import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuBackend } from '@blastkit/core';
import {
  compressLinears,
  LLAMA_LINEAR_SUFFIXES,
  LlamaModel,
  openHfLlama,
  openLlamaFolder,
  saveCompressedLlama,
} from '@blastkit/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStudent, retrain } from '../src/distill/retrain.js';
import { selectTrainEngine } from '../src/engine/select.js';
import { TrainingInterruptedError } from '../src/train/loop.js';

// A tiny Llama made by transformers (the models package's fixture) as the dense teacher, compressed with
// the models package's own BLAST pipeline: the real re-training path end to end, at a size that runs in
// seconds.
const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'fixtures');
let dir: string;

beforeAll(async () => {
  // WebAssembly: the same math as the cpu engine, several times faster for this many small ops
  await selectTrainEngine(['wasm', 'cpu']);
  dir = await mkdtemp(join(tmpdir(), 'retrain-'));
  const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama'));
  const modules = Array.from({ length: config.numLayers }, (_, l) =>
    LLAMA_LINEAR_SUFFIXES.map((s) => `model.layers.${l}.${s}`),
  ).flat();
  const { replacements } = await compressLinears(source, modules, {
    method: 'blast',
    ratio: 0.5,
    blocks: 2,
    seed: 1,
  });
  await saveCompressedLlama(join(dir, 'compressed'), config, source, replacements, {
    method: 'blast',
    ratio: 0.5,
  });
  await source.close();
}, 120_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function teacher() {
  const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama'));
  return { config, source, description: 'tiny-llama (transformers fixture)' };
}

const base = {
  steps: 40,
  lr: 3e-3,
  batch: 4,
  seqLen: 32,
  temperature: 1,
  text: { kind: 'in-domain' as const, sequences: 32, seed: 1, length: 64 },
  evaluation: { sequences: 8, seed: 2, length: 64 },
};

describe('retrain (distillation after compression)', () => {
  it('closes part of the gap on held-out text and saves a folder the models package reloads', async () => {
    const t = await teacher();
    const out = join(dir, 'retrained');
    const r = await retrain({
      ...base,
      compressed: join(dir, 'compressed'),
      teacher: t,
      out,
      cacheDir: join(dir, 'cache'),
    });
    await t.source.close();
    const e = r.evaluation!;
    expect(e.before.perplexity).toBeGreaterThan(e.teacher.perplexity);
    expect(e.after.perplexity).toBeLessThan(e.before.perplexity);
    expect(e.gapClosed).toBeGreaterThan(0.2);
    expect(r.training.lastLoss).toBeLessThan(r.training.firstLoss);
    expect(existsSync(r.checkpoint)).toBe(false);

    // the saved folder: same structure, compression config kept, logits equal the trained tfjs model's
    const opened = await openLlamaFolder(out);
    expect(opened.compression?.method).toBe('blast');
    expect(opened.compression?.retrained).toMatchObject({
      steps: 40,
      teacher: 'tiny-llama (transformers fixture)',
    });
    expect(opened.replacements.size).toBe(14);
    for (const m of opened.replacements.values()) expect(m.kind).toBe('blast');
    const be = new CpuBackend();
    const ref = await LlamaModel.load(opened.source, opened.config, {
      backend: be,
      replacements: opened.replacements,
    });
    const ids = Int32Array.from([1, 9, 33, 4, 60, 12, 7]);
    const want = (await be.download(ref.forward(ids, ref.newCache()))).data;
    ref.dispose();
    await opened.source.close();
    const { model, opened: again } = await openStudent(out);
    const got = model.logits(ids, 1).dataSync();
    let d = 0;
    let s = 0;
    for (let i = 0; i < want.length; i++) {
      d = Math.max(d, Math.abs(got[i] - want[i]));
      s = Math.max(s, Math.abs(want[i]));
    }
    expect(d / s).toBeLessThan(1e-4);
    model.dispose();
    await again.source.close();
  }, 120_000);

  it('an interrupted run resumes from its checkpoint to the same model', async () => {
    const straightOut = join(dir, 'straight');
    const t1 = await teacher();
    const opts = { ...base, steps: 6, compressed: join(dir, 'compressed'), cacheDir: join(dir, 'cache') };
    await retrain({ ...opts, teacher: t1, out: straightOut });
    await t1.source.close();

    const resumedOut = join(dir, 'resumed');
    const controller = new AbortController();
    const t2 = await teacher();
    await expect(
      retrain({
        ...opts,
        teacher: t2,
        out: resumedOut,
        signal: controller.signal,
        checkpointEvery: 100,
        onStep: (e) => {
          if (e.step === 2) controller.abort();
        },
      }),
    ).rejects.toBeInstanceOf(TrainingInterruptedError);
    await t2.source.close();
    expect(existsSync(`${resumedOut}.checkpoint.safetensors`)).toBe(true);
    expect(existsSync(resumedOut)).toBe(false);
    const t3 = await teacher();
    const r = await retrain({ ...opts, teacher: t3, out: resumedOut, resume: true });
    await t3.source.close();
    expect(r.training.resumedFrom).toBe(2);

    const a = await openLlamaFolder(straightOut);
    const b = await openLlamaFolder(resumedOut);
    for (const [k, m] of a.replacements)
      expect(Array.from(b.replacements.get(k)!.toDense().data), k).toEqual(Array.from(m.toDense().data));
    const norm = 'model.layers.1.post_attention_layernorm.weight';
    expect(Array.from((await b.source.readTensor(norm)).data)).toEqual(
      Array.from((await a.source.readTensor(norm)).data),
    );
    await a.source.close();
    await b.source.close();
  }, 120_000);

  it('refuses an evaluation sample drawn with the training seed', async () => {
    const t = await teacher();
    await expect(
      retrain({
        ...base,
        evaluation: { sequences: 2, seed: 1 },
        compressed: join(dir, 'compressed'),
        teacher: t,
        out: join(dir, 'x'),
      }),
    ).rejects.toThrow(/different sample/);
    await t.source.close();
  });
});
