import { join } from 'node:path';
import type { Tensor } from '@blastkit/core';
import { maxRelativeError } from '@blastkit/core/test';
import { describe, expect, it } from 'vitest';
import {
  compressLinears,
  LlamaModel,
  llamaLinearSuffixes,
  llamaWeightShapes,
  openHfPhi3,
  PHI3_LINEAR_SUFFIXES,
  phi3ConfigFromHf,
  phi3ConfigToHf,
  readHfConfig,
  type TensorSource,
} from '../src/index.js';
import { be, fixtures, golden, ids, logitsOf } from './llama-family-golden.js';

const folder = join(fixtures, 'tiny-phi3');

describe('Phi-3 through the Llama adapter, against transformers', () => {
  it('tiny-phi3: logits match Phi3ForCausalLM to 1e-4 (fused qkv_proj and gate_up_proj, 2 kv heads)', async () => {
    const { config, source } = await openHfPhi3(folder);
    expect(config).toMatchObject({ modelType: 'phi3', fusedProjections: true, numHeads: 4, numKvHeads: 2 });
    expect(llamaLinearSuffixes(config)).toEqual(PHI3_LINEAR_SUFFIXES);
    const shapes = llamaWeightShapes(config);
    // q (4 heads × 8) then k and v (2 kv heads × 8 each); gate then up (64 each)
    expect(shapes.get('model.layers.0.self_attn.qkv_proj.weight')).toEqual([64, 32]);
    expect(shapes.get('model.layers.0.mlp.gate_up_proj.weight')).toEqual([128, 32]);
    expect(shapes.has('model.layers.0.self_attn.q_proj.weight')).toBe(false);
    const { out } = await logitsOf(source, config);
    await source.close();
    expect(maxRelativeError(out, golden['tiny-phi3'].flat())).toBeLessThan(1e-4);
  });

  it('the fused projections are single linears: observed, compressed and loaded under their checkpoint names', async () => {
    const { config, source } = await openHfPhi3(folder);
    const model = await LlamaModel.load(source, config, { backend: be });
    const seen: string[] = [];
    const logits = model.forward(ids, model.newCache(), {
      observe: (module, input) => {
        seen.push(module);
        be.dispose(input);
      },
    });
    be.dispose(logits);
    const dense = model.linearParameterCount();
    model.dispose();
    expect(seen.slice(0, 4)).toEqual(PHI3_LINEAR_SUFFIXES.map((s) => `model.layers.0.${s}`));

    const modules = ['model.layers.0.self_attn.qkv_proj', 'model.layers.1.mlp.gate_up_proj'];
    const { replacements } = await compressLinears(source, modules, { method: 'lowrank', ratio: 0.5 });
    const lowRank = await logitsOf(source, config, { replacements });
    // the same model with each low-rank product stored as its dense weight: what the factored forward must equal
    const products = new Map([...replacements].map(([m, s]) => [`${m}.weight`, s.toDense()]));
    const product = await logitsOf(withTensors(source, products), config);
    await source.close();
    expect(replacements.get(modules[0])?.kind).toBe('low-rank');
    expect(maxRelativeError(lowRank.out, product.out.data)).toBeLessThan(1e-4);
    expect(maxRelativeError(lowRank.out, golden['tiny-phi3'].flat())).toBeGreaterThan(1e-3);
    expect(lowRank.params).toBeLessThan(dense);
  });

  it('decoding token by token through the KV cache gives the logits of the full pass', async () => {
    const { config, source } = await openHfPhi3(folder);
    const model = await LlamaModel.load(source, config, { backend: be });
    await source.close();
    const cache = model.newCache();
    be.dispose(model.forward(ids.subarray(0, 6), cache));
    for (let t = 6; t < ids.length; t++) {
      const step = await be.download(model.forward(ids.subarray(t, t + 1), cache));
      expect(maxRelativeError(step, golden['tiny-phi3'][t])).toBeLessThan(1e-4);
    }
    model.disposeCache(cache);
    model.dispose();
  });

  it('refuses what the adapter does not run (partial RoPE, LongRoPE) by name; writes a config transformers reads', async () => {
    const json = await readHfConfig(folder);
    const rope = json.rope_parameters as Record<string, unknown>;
    expect(() =>
      phi3ConfigFromHf({ ...json, rope_parameters: { ...rope, partial_rotary_factor: 0.5 } }),
    ).toThrow(/partial_rotary_factor 0.5 is not supported/);
    expect(() => phi3ConfigFromHf({ ...json, rope_parameters: { ...rope, rope_type: 'longrope' } })).toThrow(
      /rope type 'longrope' \(LongRoPE\) is not supported/,
    );
    const config = phi3ConfigFromHf(json);
    expect(config.slidingWindow).toBeUndefined();
    expect(phi3ConfigFromHf({ ...json, sliding_window: 2047 }).slidingWindow).toBe(2047);
    expect(phi3ConfigToHf(config)).toMatchObject({ model_type: 'phi3', architectures: ['Phi3ForCausalLM'] });
    expect(phi3ConfigFromHf(phi3ConfigToHf(config))).toEqual(config);
  });
});

/** `source` with some tensors swapped. */
function withTensors(source: TensorSource, swapped: ReadonlyMap<string, Tensor>): TensorSource {
  return {
    names: () => source.names(),
    shapeOf: (n) => swapped.get(n)?.shape ?? source.shapeOf(n),
    readTensor: async (n) => swapped.get(n) ?? source.readTensor(n),
    close: async () => {},
  };
}
