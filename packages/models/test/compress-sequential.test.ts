import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuBackend, type StructuredMatrix } from '@blastkit/core';
import { describe, expect, it } from 'vitest';
import {
  CALIBRATED_METHODS,
  COMPRESS_METHODS,
  collectLinearInputs,
  compressLinears,
  groupByBlock,
  LLAMA_LINEAR_SUFFIXES,
  LlamaModel,
  openHfLlama,
} from '../src/index.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const be = new CpuBackend();

describe('groupByBlock', () => {
  it('cuts module names into runs of one block each', () => {
    expect(
      groupByBlock([
        'model.layers.0.a',
        'model.layers.0.b',
        'model.layers.1.a',
        'transformer.h.2.x',
        'lm_head',
      ]),
    ).toEqual([
      ['model.layers.0.a', 'model.layers.0.b'],
      ['model.layers.1.a'],
      ['transformer.h.2.x'],
      ['lm_head'],
    ]);
  });
});

describe('svd-llm and sequential calibration', () => {
  it('svd-llm is a calibrated method', () => {
    expect(COMPRESS_METHODS).toContain('svd-llm');
    expect(CALIBRATED_METHODS).toContain('svd-llm');
  });

  it('recalibrates each block after the first on the model with the earlier blocks compressed', async () => {
    const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama-scaled'));
    const modules: string[] = [];
    for (let l = 0; l < config.numLayers; l++)
      for (const s of LLAMA_LINEAR_SUFFIXES) modules.push(`model.layers.${l}.${s}`);
    const sequences = [Array.from({ length: 40 }, (_, i) => (i * 7 + 3) % config.vocabSize)];
    const dense = await LlamaModel.load(source, config, { backend: be });
    const calibration = await collectLinearInputs(dense, sequences, modules);
    dense.dispose();
    const calls: { group: readonly string[]; done: string[] }[] = [];
    const options = { method: 'svd-llm' as const, ratio: 0.5, calibration };
    const sequential = await compressLinears(source, modules, {
      ...options,
      recalibrate: async (group, done) => {
        calls.push({ group, done: [...done.replacements.keys()] });
        const lm = await LlamaModel.load(source, config, { backend: be, ...done });
        try {
          return await collectLinearInputs(lm, sequences, group);
        } finally {
          lm.dispose();
        }
      },
    });
    const parallel = await compressLinears(source, modules, options);
    await source.close();
    expect(calls.length).toBe(config.numLayers - 1);
    expect(calls[0].group).toEqual(modules.filter((m) => m.startsWith('model.layers.1.')));
    expect(calls[0].done).toEqual(modules.filter((m) => m.startsWith('model.layers.0.')));
    expect([...sequential.replacements.keys()]).toEqual(modules);
    expect(sequential.modules.map((m) => m.name)).toEqual(modules);
    const dense0 = (r: Map<string, StructuredMatrix>, m: string) =>
      Array.from((r.get(m) as StructuredMatrix).toDense().data);
    // the first block saw the same inputs either way; later blocks saw the compressed model's
    expect(dense0(sequential.replacements, modules[0])).toEqual(dense0(parallel.replacements, modules[0]));
    const later = modules.find((m) => m.startsWith('model.layers.1.')) as string;
    expect(dense0(sequential.replacements, later)).not.toEqual(dense0(parallel.replacements, later));
  });
});
