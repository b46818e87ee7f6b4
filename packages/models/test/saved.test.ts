import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuBackend } from '@blastkit/core';
import { MemoryCheckpointStore } from '@blastkit/factorize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  collectLinearInputs,
  compressLinears,
  LlamaModel,
  openHfLlama,
  openLlamaFolder,
  saveCompressedLlama,
  saveDenseLlama,
  type TensorSource,
} from '../src/index.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const be = new CpuBackend();
const ids = Int32Array.from([1, 5, 17, 42, 3, 9]);
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-saved-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function logits(
  source: TensorSource,
  config: import('../src/index.js').LlamaConfig,
  replacements = new Map(),
  biases = new Map(),
) {
  const model = await LlamaModel.load(source, config, { backend: be, replacements, biases });
  const out = await be.download(model.forward(ids, model.newCache()));
  model.dispose();
  return out.data;
}

describe('compressed model folders', () => {
  for (const method of ['blast', 'lowrank', 'monarch', 'block-diag'] as const) {
    it(`${method}: save → load gives identical logits; the dense export matches them`, async () => {
      const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama'));
      const modules = [
        'model.layers.0.self_attn.q_proj',
        'model.layers.1.mlp.down_proj',
        'model.layers.1.mlp.up_proj',
      ];
      const { replacements, modules: report } = await compressLinears(source, modules, {
        method,
        ratio: 0.5,
        blocks: 4,
        steps: 10,
      });
      expect(report.map((m) => m.name)).toEqual(modules);
      const before = await logits(source, config, replacements);
      await saveCompressedLlama(join(dir, method), config, source, replacements, { method, ratio: 0.5 });
      const dense = await logits(source, config);
      await source.close();

      const opened = await openLlamaFolder(join(dir, method));
      expect(opened.compression?.method).toBe(method);
      expect([...opened.replacements.keys()].sort()).toEqual([...modules].sort());
      const after = await logits(opened.source, opened.config, opened.replacements);
      expect(after).toEqual(before);
      // compression changed the model (the comparison could not pass by accident)
      expect(Math.max(...after.map((v, i) => Math.abs(v - dense[i])))).toBeGreaterThan(1e-3);

      await saveDenseLlama(join(dir, `${method}-dense`), opened.config, opened.source, opened.replacements);
      await opened.source.close();
      const exported = await openLlamaFolder(join(dir, `${method}-dense`));
      expect(exported.compression).toBeUndefined();
      expect(exported.replacements.size).toBe(0);
      const viaDense = await logits(exported.source, exported.config);
      await exported.source.close();
      const scale = Math.max(...before.map(Math.abs));
      expect(Math.max(...viaDense.map((v, i) => Math.abs(v - before[i])))).toBeLessThan(1e-4 * scale);
    });
  }
});

describe('sharded Hugging Face folders', () => {
  it('a model split over two shards with an index loads and gives the single-file logits', async () => {
    const { writeSafetensors } = await import('@blastkit/safetensors');
    const { copyFile, mkdir, writeFile } = await import('node:fs/promises');
    const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama'));
    const want = await logits(source, config);
    const shardDir = join(dir, 'sharded');
    await mkdir(shardDir, { recursive: true });
    const names = source.names();
    const half = Math.ceil(names.length / 2);
    const weightMap: Record<string, string> = {};
    for (const [i, part] of [names.slice(0, half), names.slice(half)].entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      const tensors: Record<string, import('@blastkit/core').Tensor> = {};
      for (const n of part) {
        tensors[n] = await source.readTensor(n);
        weightMap[n] = file;
      }
      await writeSafetensors(join(shardDir, file), tensors);
    }
    await source.close();
    await writeFile(
      join(shardDir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    await copyFile(join(fixtures, 'tiny-llama', 'config.json'), join(shardDir, 'config.json'));
    const sharded = await openHfLlama(shardDir);
    expect(await logits(sharded.source, sharded.config)).toEqual(want);
    await sharded.source.close();
  });
});

describe('ROM (calibrated low-rank with an output bias)', () => {
  it('compresses with calibration, saves the bias, reloads to identical logits; resumes with its bias', async () => {
    const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama'));
    const dense = await LlamaModel.load(source, config, { backend: be });
    const modules = ['model.layers.0.mlp.down_proj', 'model.layers.1.self_attn.o_proj'];
    const calibration = await collectLinearInputs(
      dense,
      [[1, 5, 17, 42, 3, 9, 60, 2, 33, 7, 8, 19]],
      modules,
    );
    const store = new MemoryCheckpointStore();
    const rom = await compressLinears(source, modules, { method: 'rom', ratio: 0.5, calibration, store });
    expect(rom.biases.size).toBe(2);
    expect(rom.modules[0].parameters).toBe(rom.replacements.get(modules[0])!.parameterCount + 32);
    const before = await logits(source, config, rom.replacements, rom.biases);
    await saveCompressedLlama(
      join(dir, 'rom'),
      config,
      source,
      rom.replacements,
      { method: 'rom' },
      rom.biases,
    );
    const opened = await openLlamaFolder(join(dir, 'rom'));
    expect([...opened.biases.keys()].sort()).toEqual([...modules].sort());
    expect(await logits(opened.source, opened.config, opened.replacements, opened.biases)).toEqual(before);
    await opened.source.close();
    // resumed from the checkpoint store: the bias comes back too
    const resumed = await compressLinears(source, modules, { method: 'rom', ratio: 0.5, calibration, store });
    expect(resumed.modules.every((m) => m.resumed)).toBe(true);
    expect(resumed.biases.get(modules[0])?.data).toEqual(rom.biases.get(modules[0])?.data);
    await expect(compressLinears(source, modules, { method: 'rom', ratio: 0.5 })).rejects.toThrow(
      /rom: no calibration inputs for 'model.layers.0.mlp.down_proj'/,
    );
    await source.close();
  });
});
