import { readFileSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuBackend, Rng, Tensor } from '@blastkit/core';
import { MemoryCheckpointStore } from '@blastkit/factorize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compressLinears } from '../src/compress/compress.js';
import { compressModel } from '../src/compress/pipeline.js';
import {
  ARCHITECTURES,
  type ArchitectureEntry,
  architectureOf,
  type CalibrationFeed,
  denseExportSource,
  linearCandidates,
  linearInputs,
  linearWeights,
  loadModel,
  ModelInputError,
  type OpenedModel,
  openModel,
  saveDenseFolder,
} from '../src/registry/index.js';
import { ModelFormatError } from '../src/tensor-source.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const be = new CpuBackend();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-registry-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A small seeded input of the entry's task: what its linears see in one calibration run. */
function feedFor(m: OpenedModel): CalibrationFeed {
  const rng = new Rng(7);
  const normal = (shape: number[]) => {
    const t = new Tensor(shape);
    for (let i = 0; i < t.size; i++) t.data[i] = rng.normal();
    return t;
  };
  const c = m.config as Record<string, number>;
  switch (m.entry.task) {
    case 'causal-lm':
      return {
        kind: 'tokens',
        sequences: [
          [1, 5, 9, 13],
          [2, 4],
        ],
      };
    case 'image-classification':
      return { kind: 'images', images: normal([3, c.numChannels, c.imageSize, c.imageSize]), batchSize: 2 };
    case 'diffusion':
      return {
        kind: 'latents',
        latents: normal([3, c.inChannels, c.inputSize, c.inputSize]),
        timesteps: Float32Array.of(10, 500, 900),
        labels: Int32Array.of(0, 1, 2),
        batchSize: 2,
      };
  }
}

describe.each(ARCHITECTURES.map((a) => [a.name, a] as const))('%s entry', (name, entry) => {
  it('opens its fixture, lists candidates [out, in], loads, and observes every candidate on its task input', async () => {
    const a = entry as ArchitectureEntry;
    const path = join(fixtures, a.fixture);
    const opened = await openModel(path);
    try {
      expect(opened.entry).toBe(a);
      expect(opened.architecture).toBe(name);
      expect(architectureOf(JSON.parse(readFileSync(join(path, 'config.json'), 'utf8')), 'config.json')).toBe(
        a,
      );
      const candidates = linearCandidates(opened);
      expect(candidates.length).toBeGreaterThan(0);
      // every default target names some candidate
      for (const t of a.defaultTargets) expect(candidates.some((c) => c.endsWith(t))).toBe(true);
      const weights = linearWeights(opened);
      const model = await loadModel(opened, be);
      try {
        const inputs = await linearInputs(opened, be, candidates, feedFor(opened), model);
        for (const m of candidates) {
          const [, inDim] = weights.shapeOf(`${m}.weight`);
          const x = inputs.get(m) as Tensor;
          expect(x.shape[1], m).toBe(inDim);
          expect(x.shape[0], m).toBeGreaterThan(0);
          expect(x.data.every(Number.isFinite)).toBe(true);
        }
        expect(model.linearParameterCount()).toBeGreaterThan(0);
      } finally {
        model.dispose();
      }
      expect(a.describe(opened.config)).toMatch(new RegExp(`^${name}: `));
    } finally {
      await opened.source.close();
    }
  });
});

describe('the registry', () => {
  it('finds architectures by model_type, DiT by its keys, and names what it runs otherwise', () => {
    expect(architectureOf({ model_type: 'blast_llama' }, 'c.json').name).toBe('llama');
    expect(architectureOf({ depth: 2, input_size: 8 }, 'c.json').name).toBe('dit');
    let message = '';
    try {
      architectureOf({ model_type: 'bert' }, 'c.json');
    } catch (err) {
      expect(err).toBeInstanceOf(ModelFormatError);
      message = (err as Error).message;
    }
    for (const a of ARCHITECTURES) expect(message).toContain(a.name);
  });

  it('openModel: refuses paths it cannot read, naming what it expects', async () => {
    await expect(openModel(join(dir, 'nothing'))).rejects.toThrow(ModelInputError);
    await writeFile(join(dir, 'weights.npy'), 'x');
    await expect(openModel(join(dir, 'weights.npy'))).rejects.toThrow(
      /expected a model folder, a \.safetensors file, or a llama2\.c \.bin/,
    );
    const llama = join(dir, 'llama');
    await cp(join(fixtures, 'tiny-llama'), llama, { recursive: true });
    await cp(join(llama, 'model.safetensors'), join(llama, 'other.safetensors'));
    await expect(openModel(join(llama, 'other.safetensors'))).rejects.toThrow(/open a Llama by its folder/);
    // a llama2.c checkpoint through the Llama entry's reader
    const ck = await openModel(join(fixtures, 'tiny-llama-v1.bin'), { name: 'tiny' });
    expect(ck).toMatchObject({ architecture: 'llama', format: 'llama2c', description: 'tiny (llama2.c v1)' });
    await ck.source.close();
  });

  it('GPT-2 Conv1D weights are seen [out, in] and exported back [in, out]', async () => {
    const opened = await openModel(join(fixtures, 'tiny-gpt2'));
    const module = 'transformer.h.0.attn.c_attn';
    expect(opened.source.shapeOf(`${module}.weight`)).toEqual([32, 96]);
    expect(linearWeights(opened).shapeOf(`${module}.weight`)).toEqual([96, 32]);
    const stored = await opened.source.readTensor(`${module}.weight`);
    const seen = await linearWeights(opened).readTensor(`${module}.weight`);
    expect(seen.data[1 * 32 + 0]).toBe(stored.data[0 * 96 + 1]);
    const { replacements } = await compressLinears(linearWeights(opened), [module], {
      method: 'lowrank',
      ratio: 0.5,
    });
    const compressed = { ...opened, replacements };
    const dense = denseExportSource(compressed);
    expect(dense.shapeOf(`${module}.weight`)).toEqual([32, 96]);
    const back = await dense.readTensor(`${module}.weight`);
    const structure = replacements.get(module)?.toDense() as Tensor;
    expect(back.data[0 * 96 + 1]).toBeCloseTo(structure.data[1 * 32 + 0], 6);
    const out = join(dir, 'gpt2-dense');
    await saveDenseFolder(out, compressed);
    const reopened = await openModel(out);
    expect(reopened.replacements.size).toBe(0);
    expect([...(await reopened.source.readTensor(`${module}.weight`)).data]).toEqual([...back.data]);
    await reopened.source.close();
    await opened.source.close();
  });
});

describe('compressModel', () => {
  it('select → calibrate through observe → factorize with checkpoints → save, as the steps run by hand', async () => {
    const opened = await openModel(join(fixtures, 'tiny-vit'));
    const feed = feedFor(opened);
    const selection = {
      targetModules: ['attention.attention.query', 'intermediate.dense'],
      layersToTransform: [1],
    };
    const seen: { modules: string[]; jobs: number; store: boolean } = { modules: [], jobs: 0, store: false };
    const store = new MemoryCheckpointStore();
    const out = join(dir, 'vit-svd');
    const r = await compressModel(opened, {
      method: 'svd-llm',
      ratio: 0.5,
      backend: be,
      selection,
      calibration: feed,
      checkpoints: async (run) => {
        seen.modules = run.modules;
        return store;
      },
      beforeFactorize: async ({ jobs, store: s, calibration }) => {
        seen.jobs = jobs.length;
        seen.store = s === store && calibration?.size === jobs.length;
      },
      save: { out, info: { method: 'svd-llm', ratio: 0.5 } },
    });
    const modules = [
      'vit.encoder.layer.1.attention.attention.query',
      'vit.encoder.layer.1.intermediate.dense',
    ];
    expect(r.run.modules).toEqual(modules);
    expect(seen).toEqual({ modules, jobs: 2, store: true });
    // the same steps by hand give the same factors
    const calibration = await linearInputs(opened, be, modules, feed);
    const byHand = await compressLinears(linearWeights(opened), modules, {
      method: 'svd-llm',
      ratio: 0.5,
      backend: be,
      calibration,
    });
    for (const m of modules)
      expect([...(r.replacements.get(m)?.toDense().data ?? [])]).toEqual([
        ...(byHand.replacements.get(m)?.toDense().data ?? []),
      ]);
    const saved = await openModel(out);
    expect([...saved.replacements.keys()].sort()).toEqual(modules);
    expect(saved.compression).toMatchObject({ method: 'svd-llm', ratio: 0.5 });
    await saved.source.close();
    // a budget naming no linear of the model, and a compressed input, are refused
    await expect(
      compressModel(opened, { method: 'lowrank', ratio: 1, backend: be, ranks: new Map([['nope', 2]]) }),
    ).rejects.toThrow(/no linear 'nope'/);
    await expect(compressModel(saved, { method: 'lowrank', ratio: 0.5, backend: be })).rejects.toThrow(
      /already compressed/,
    );
    await expect(compressModel(opened, { method: 'rom', ratio: 0.5, backend: be })).rejects.toThrow(
      /rom needs calibration data/,
    );
    await opened.source.close();
  });
});
