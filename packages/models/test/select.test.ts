import { describe, expect, it } from 'vitest';
import { LLAMA_LINEAR_SUFFIXES, layerIndex, ratioFor, selectModules } from '../src/index.js';

const names: string[] = [];
for (let l = 0; l < 3; l++) for (const s of LLAMA_LINEAR_SUFFIXES) names.push(`model.layers.${l}.${s}`);
names.push('lm_head', 'model.layers.0.self_attn.xq_proj');

describe('selectModules (PEFT vocabulary)', () => {
  it('a list matches whole dotted suffixes; the default is the given list', () => {
    expect(selectModules(names, { targetModules: ['q_proj'] }, [])).toEqual([
      'model.layers.0.self_attn.q_proj',
      'model.layers.1.self_attn.q_proj',
      'model.layers.2.self_attn.q_proj',
    ]);
    expect(selectModules(names, {}, LLAMA_LINEAR_SUFFIXES)).toHaveLength(21);
    expect(selectModules(names, { targetModules: ['mlp.down_proj'] }, [])).toHaveLength(3);
  });
  it('a RegExp must match the whole name; all-linear takes everything; exclude and layers filter', () => {
    expect(selectModules(names, { targetModules: /.*\.(q|v)_proj/ }, [])).toHaveLength(6);
    expect(() => selectModules(names, { targetModules: /q_proj/ }, [])).toThrow(/matches none of the 23/);
    expect(selectModules(names, { targetModules: 'all-linear' }, [])).toHaveLength(23);
    expect(
      selectModules(names, { targetModules: 'all-linear', excludeModules: ['lm_head', 'xq_proj'] }, []),
    ).toHaveLength(21);
    const picked = selectModules(names, { layersToTransform: [2] }, LLAMA_LINEAR_SUFFIXES);
    expect(picked.every((n) => n.startsWith('model.layers.2.'))).toBe(true);
    expect(picked).toHaveLength(7);
  });
  it('ratioFor takes the longest matching suffix; layerIndex reads the common layouts', () => {
    const pattern = { mlp: 0.9, 'mlp.down_proj': 0.3, down_proj: 0.5 };
    expect(ratioFor('model.layers.1.mlp.down_proj', 0.5, pattern)).toBe(0.3);
    expect(ratioFor('model.layers.1.self_attn.q_proj', 0.7, pattern)).toBe(0.7);
    expect(layerIndex('transformer.h.11.mlp.c_fc')).toBe(11);
    expect(layerIndex('blocks.3.attn.qkv')).toBe(3);
    expect(layerIndex('lm_head')).toBeUndefined();
  });
});
