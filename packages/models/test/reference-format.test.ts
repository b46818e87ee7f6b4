import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlastMatrix, LowRankMatrix, Rng, type StructuredMatrix } from '@blastkit/core';
import { openSafetensors } from '@blastkit/safetensors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LLAMA_LINEAR_SUFFIXES,
  llamaWeightShapes,
  openHfLlama,
  saveReferenceBlastLlama,
} from '../src/index.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-ref-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** BLAST replacements for every projection of both layers, rank per projection name, 4 blocks. */
function blastEverywhere(
  shapes: Map<string, number[]>,
  rankOf = (proj: string) => (proj.includes('mlp') ? 6 : 4),
) {
  const out = new Map<string, StructuredMatrix>();
  for (let l = 0; l < 2; l++)
    for (const s of LLAMA_LINEAR_SUFFIXES) {
      const [m, n] = shapes.get(`model.layers.${l}.${s}.weight`) as number[];
      out.set(`model.layers.${l}.${s}`, BlastMatrix.random(m, n, 4, rankOf(s), new Rng(l * 10 + s.length)));
    }
  return out;
}

describe('saveReferenceBlastLlama (changwoolee/BLAST blast_llama format)', () => {
  it('writes the reference config keys and B/C/D names, shapes and fp16 dtype', async () => {
    const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama'));
    const replacements = blastEverywhere(llamaWeightShapes(config));
    await saveReferenceBlastLlama(join(dir, 'ref'), config, source, replacements);
    await source.close();
    const json = JSON.parse(readFileSync(join(dir, 'ref', 'config.json'), 'utf8'));
    expect(json).toMatchObject({
      model_type: 'blast_llama',
      architectures: ['BlastModelForCausalLM'],
      target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      blast_rank: { q_proj: 4, k_proj: 4, v_proj: 4, o_proj: 4, gate_proj: 6, up_proj: 6, down_proj: 6 },
      blast_num_blocks: [4],
      indices: [0, 1],
      precompute_matrix: false,
      num_key_value_heads: 2,
    });
    const file = await openSafetensors(join(dir, 'ref', 'model.safetensors'));
    expect(file.info('model.layers.1.mlp.down_proj.B')).toMatchObject({ dtype: 'F16', shape: [4, 8, 6] });
    expect(file.info('model.layers.1.mlp.down_proj.C')).toMatchObject({ dtype: 'F16', shape: [4, 6, 16] });
    expect(file.info('model.layers.1.mlp.down_proj.D')).toMatchObject({ dtype: 'F16', shape: [4, 4, 6] });
    expect(file.names().some((n) => n.endsWith('q_proj.weight'))).toBe(false);
    expect(file.names()).toContain('lm_head.weight');
    const D = await file.readTensor('model.layers.0.self_attn.q_proj.D');
    const want = (replacements.get('model.layers.0.self_attn.q_proj') as BlastMatrix).D;
    for (let i = 0; i < D.size; i++)
      expect(Math.abs(D.data[i] - want.data[i])).toBeLessThanOrEqual(Math.abs(want.data[i]) * 1e-3 + 1e-4);
    await file.close();
  });

  it('refuses what the format cannot express: per-layer ranks, other structures, partly dense layers', async () => {
    const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama'));
    const shapes = llamaWeightShapes(config);
    const perLayer = blastEverywhere(shapes);
    perLayer.set('model.layers.1.self_attn.q_proj', BlastMatrix.random(32, 32, 4, 5, new Rng(1)));
    await expect(saveReferenceBlastLlama(join(dir, 'x'), config, source, perLayer)).rejects.toThrow(
      /rank 5 but other q_proj layers have 4/,
    );
    const lowRank = blastEverywhere(shapes);
    lowRank.set('model.layers.0.mlp.up_proj', new LowRankMatrix(randomLowRankU(), randomLowRankV()));
    await expect(saveReferenceBlastLlama(join(dir, 'x'), config, source, lowRank)).rejects.toThrow(
      /only BLAST/,
    );
    const partial = blastEverywhere(shapes);
    partial.delete('model.layers.0.mlp.gate_proj');
    await expect(saveReferenceBlastLlama(join(dir, 'x'), config, source, partial)).rejects.toThrow(
      /layer 0 leaves mlp.gate_proj dense/,
    );
    await source.close();
  });
});

/** Factors U [64, 2], V [32, 2] of some rank-2 matrix (values do not matter here). */
function randomLowRankU() {
  return BlastMatrix.random(64, 2, 1, 2, new Rng(3)).toDense();
}
function randomLowRankV() {
  return BlastMatrix.random(32, 2, 1, 2, new Rng(4)).toDense();
}
