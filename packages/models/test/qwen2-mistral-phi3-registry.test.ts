import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tensor } from '@blastkit/core';
import { maxRelativeError } from '@blastkit/core/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  architectureNamed,
  compressLinears,
  type LlamaModel,
  type LoadedModel,
  linearCandidates,
  linearInputs,
  linearWeights,
  loadModel,
  openModel,
  saveCompressedModel,
  selectLinears,
} from '../src/index.js';
import { be, fixtures, golden, ids } from './llama-family-golden.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-llama-family-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function logitsOf(loaded: LoadedModel): Promise<Tensor> {
  const model = loaded as LlamaModel;
  const out = await be.download(model.forward(ids, model.newCache()));
  model.dispose();
  return out;
}

// per architecture: its linears per layer, and the two modules compressed in the round trip
const cases = [
  {
    name: 'qwen2',
    perLayer: 7,
    trait: 'q/k/v biases',
    modules: ['model.layers.0.self_attn.v_proj', 'model.layers.1.mlp.up_proj'],
  },
  {
    name: 'mistral',
    perLayer: 7,
    trait: 'sliding window 4',
    modules: ['model.layers.0.self_attn.q_proj', 'model.layers.1.mlp.down_proj'],
  },
  {
    name: 'phi3',
    perLayer: 4,
    trait: 'fused qkv_proj',
    modules: ['model.layers.0.self_attn.qkv_proj', 'model.layers.1.mlp.gate_up_proj'],
  },
];

describe('Qwen2, Mistral and Phi-3 through the architecture registry', () => {
  for (const c of cases) {
    it(`${c.name}: opened by model_type, golden logits, compressed → saved → reopened → exported dense`, async () => {
      const m = await openModel(join(fixtures, `tiny-${c.name}`));
      expect(m.architecture).toBe(c.name);
      expect(m.entry).toBe(architectureNamed(c.name));
      expect(m.entry.describe(m.config)).toContain(c.trait);
      // PEFT's default targets here are every layer linear
      expect(linearCandidates(m)).toHaveLength(2 * c.perLayer);
      expect(selectLinears(m, {})).toEqual(linearCandidates(m));
      expect(
        maxRelativeError(await logitsOf(await loadModel(m, be)), golden[`tiny-${c.name}`].flat()),
      ).toBeLessThan(1e-4);

      // calibration reaches every candidate through the adapter's observe hook, one row per token
      const inputs = await linearInputs(m, be, c.modules, { kind: 'tokens', sequences: [[...ids]] });
      for (const module of c.modules)
        expect(inputs.get(module)?.shape).toEqual([ids.length, m.source.shapeOf(`${module}.weight`)[1]]);

      const { replacements, biases } = await compressLinears(linearWeights(m), c.modules, {
        method: 'lowrank',
        ratio: 0.5,
      });
      const compressed = await logitsOf(await loadModel(m, be, { replacements, biases }));
      expect(maxRelativeError(compressed, golden[`tiny-${c.name}`].flat())).toBeGreaterThan(1e-3);
      const out = join(dir, c.name);
      await saveCompressedModel(out, m, replacements, biases, { method: 'lowrank', ratio: 0.5 });
      await m.source.close();

      const reopened = await openModel(out);
      expect(reopened.architecture).toBe(c.name);
      expect(reopened.compression?.method).toBe('lowrank');
      expect([...reopened.replacements.keys()].sort()).toEqual([...c.modules].sort());
      expect((await logitsOf(await loadModel(reopened, be))).data).toEqual(compressed.data);

      await reopened.entry.exportDense(join(dir, `${c.name}-dense`), reopened, {});
      await reopened.source.close();
      const dense = await openModel(join(dir, `${c.name}-dense`));
      expect(dense.compression).toBeUndefined();
      expect(dense.configJson.model_type).toBe(c.name);
      expect(maxRelativeError(await logitsOf(await loadModel(dense, be)), compressed.data)).toBeLessThan(
        1e-4,
      );
      await dense.source.close();
    });
  }

  it('phi3: sequential calibration recalibrates block 1 on the model with block 0 compressed (svd-llm)', async () => {
    const m = await openModel(join(fixtures, 'tiny-phi3'));
    expect(m.entry.sequentialCalibration).toBe(true);
    const modules = linearCandidates(m);
    const feed = { kind: 'tokens' as const, sequences: [[...ids]] };
    const calibration = await linearInputs(m, be, modules, feed);
    const options = { method: 'svd-llm' as const, ratio: 0.5, calibration };
    const seen: string[][] = [];
    const sequential = await compressLinears(linearWeights(m), modules, {
      ...options,
      recalibrate: async (group, done) => {
        seen.push([...done.replacements.keys()]);
        const loaded = await loadModel(m, be, done);
        try {
          return await linearInputs(m, be, group, feed, loaded);
        } finally {
          loaded.dispose();
        }
      },
    });
    const parallel = await compressLinears(linearWeights(m), modules, options);
    await m.source.close();
    expect(seen).toEqual([modules.filter((n) => n.startsWith('model.layers.0.'))]);
    const dense = (r: ReadonlyMap<string, { toDense(): Tensor }>, n: string) => [
      ...(r.get(n)?.toDense().data ?? []),
    ];
    // block 0 saw the same inputs either way; block 1's fused qkv_proj saw the compressed model's
    expect(dense(sequential.replacements, modules[0])).toEqual(dense(parallel.replacements, modules[0]));
    expect(dense(sequential.replacements, modules[4])).not.toEqual(dense(parallel.replacements, modules[4]));
  });
});
