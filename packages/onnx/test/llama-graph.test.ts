import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BlastMatrix,
  CpuBackend,
  LowRankMatrix,
  MonarchMatrix,
  Rng,
  type StructuredMatrix,
  Tensor,
} from '@blastkit/core';
import { generate, LlamaModel, openLlamaFolder } from '@blastkit/models';
import { afterAll, describe, expect, it } from 'vitest';
import { argmax, type BlastMixing, decodeModel, exportLlamaOnnx, OnnxCausalLm } from '../src/index.js';
import { relError } from './helpers.js';

const fixture = join(import.meta.dirname, '../../models/fixtures/tiny-llama');
const work = mkdtempSync(join(tmpdir(), 'blastkit-onnx-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function check(
  name: string,
  replacements: Map<string, StructuredMatrix>,
  biases = new Map<string, Tensor>(),
  mixing?: BlastMixing,
) {
  const opened = await openLlamaFolder(fixture);
  const out = join(work, name);
  const result = await exportLlamaOnnx(out, { ...opened, replacements, biases }, mixing ? { mixing } : {});
  expect(result.structured).toBe([...replacements.values()].length);
  const be = new CpuBackend();
  const model = await LlamaModel.load(opened.source, opened.config, { backend: be, replacements, biases });
  const ids = [1, 5, 9, 3, 17, 2, 40];
  const reference = (await be.download(model.forward(Int32Array.from(ids), model.newCache()))).data;
  const ort = await OnnxCausalLm.fromFolder(out);
  // prefill in two pieces: the second runs with a past of 4 (the cache path)
  const first = await ort.forward(ids.slice(0, 4), ort.emptyCache());
  const second = await ort.forward(ids.slice(4), first.cache);
  const logits = new Float32Array([...first.logits, ...second.logits]);
  expect(relError(logits, reference)).toBeLessThan(1e-4);
  const ours = await generate(model, ids, { maxTokens: 12 });
  expect(await ort.generate(ids, 12)).toEqual([...ours].slice(0, 12));
  await ort.release();
  await opened.source.close();
  return out;
}

describe('a Llama exported to ONNX (tiny fixture: GQA, untied head), run by onnxruntime-node', () => {
  it('dense: logits within 1e-4 of the CPU backend, through the KV cache; greedy tokens equal', async () => {
    const out = await check('dense', new Map());
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.model_type).toBe('llama');
    expect(JSON.parse(readFileSync(join(out, 'generation_config.json'), 'utf8')).eos_token_id).toBe(2);
  });

  it('BLAST, low-rank and Monarch linears stay structured and match the CPU backend', async () => {
    const rng = new Rng(3);
    const gaussian = (shape: number[], std: number) => {
      const t = new Tensor(shape);
      rng.fillNormal(t.data, std);
      return t;
    };
    const r = new Map<string, StructuredMatrix>([
      ['model.layers.0.self_attn.q_proj', BlastMatrix.random(32, 32, 4, 6, rng, 0.3)],
      ['model.layers.0.mlp.up_proj', BlastMatrix.random(64, 32, 4, 8, rng, 0.3)],
      ['model.layers.1.mlp.down_proj', new LowRankMatrix(gaussian([32, 6], 0.2), gaussian([64, 6], 0.2))],
      [
        'model.layers.1.self_attn.o_proj',
        new MonarchMatrix(gaussian([4, 8, 8], 0.2), gaussian([4, 8, 8], 0.2)),
      ],
    ]);
    await check('structured', r);
  });

  it('BLAST q, k, v and gate, up of one shape share their chains (GQA: k with v), and match', async () => {
    const rng = new Rng(6);
    const r = new Map<string, StructuredMatrix>();
    for (const l of [0, 1]) {
      r.set(`model.layers.${l}.self_attn.q_proj`, BlastMatrix.random(32, 32, 4, 6, rng, 0.3));
      r.set(`model.layers.${l}.self_attn.k_proj`, BlastMatrix.random(16, 32, 4, 5, rng, 0.3));
      r.set(`model.layers.${l}.self_attn.v_proj`, BlastMatrix.random(16, 32, 4, 5, rng, 0.3));
      r.set(`model.layers.${l}.mlp.gate_proj`, BlastMatrix.random(64, 32, 4, 8, rng, 0.3));
      r.set(`model.layers.${l}.mlp.up_proj`, BlastMatrix.random(64, 32, 4, 8, rng, 0.3));
    }
    const out = await check('chains', r);
    const names = decodeModel(readFileSync(join(out, 'onnx', 'model.onnx'))).graph.initializer.map(
      (t) => t.name,
    );
    expect(names).toContain('model.layers.0.self_attn.k_proj+model.layers.0.self_attn.v_proj.C');
    expect(names).toContain('model.layers.1.mlp.gate_proj+model.layers.1.mlp.up_proj.B');
    expect(names).toContain('model.layers.0.self_attn.q_proj.C');
  });

  it("BLAST written per block (what 'auto' writes for large blocks): prefill, cache and greedy decode match", async () => {
    const rng = new Rng(5);
    const r = new Map<string, StructuredMatrix>([
      ['model.layers.0.self_attn.q_proj', BlastMatrix.random(32, 32, 4, 6, rng, 0.3)],
      ['model.layers.1.mlp.down_proj', BlastMatrix.random(32, 64, 2, 12, rng, 0.3)],
    ]);
    await check('per-block', r, new Map(), 'per-block');
  });

  it("ROM's output biases are added after their linears", async () => {
    const rng = new Rng(8);
    const bias = (n: number) => {
      const t = new Tensor([n]);
      rng.fillNormal(t.data, 0.5);
      return t;
    };
    const r = new Map<string, StructuredMatrix>([
      ['model.layers.0.mlp.down_proj', BlastMatrix.random(32, 64, 4, 8, rng, 0.3)],
    ]);
    const biases = new Map([
      ['model.layers.0.mlp.down_proj', bias(32)],
      ['model.layers.1.self_attn.v_proj', bias(16)],
    ]);
    await check('biases', r, biases);
  });

  it('argmax takes the first of equal maxima', () => {
    expect(argmax(Float32Array.of(1, 3, 3, 2))).toBe(1);
  });
});
