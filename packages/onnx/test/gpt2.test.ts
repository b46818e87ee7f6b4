import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BlastMatrix,
  CpuBackend,
  DenseMatrix,
  LowRankMatrix,
  MonarchMatrix,
  Rng,
  type StructuredMatrix,
  Tensor,
} from '@blastkit/core';
import { GPT2_LINEAR_MODULES, Gpt2Model, generate, openHfGpt2 } from '@blastkit/models';
import { afterAll, describe, expect, it } from 'vitest';
import { DataType, decodeModel, exportGpt2Onnx, exportOnnx, OnnxCausalLm } from '../src/index.js';
import { relError, roundTrip } from './helpers.js';

const fixture = join(import.meta.dirname, '../../models/fixtures/tiny-gpt2');
const work = mkdtempSync(join(tmpdir(), 'blastkit-onnx-gpt2-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PROMPT = [0, 5, 9, 3, 17, 40, 22];

/**
 * Exports the tiny GPT-2 with `replacements`, then checks onnxruntime-node's logits (prefill in two pieces, so
 * the second runs through the KV cache) against our CPU backend's (1e-4 relative) and its greedy tokens
 * against blastkit's `generate` (transformers.js runs the same folders in transformers-js.test.ts: its own
 * onnxruntime-node 1.30 cannot share a process with 1.31's binding).
 */
async function check(name: string, replacements: Map<string, StructuredMatrix>) {
  const opened = await openHfGpt2(fixture);
  const out = join(work, name);
  const result = await exportGpt2Onnx(out, { ...opened, replacements });
  expect(result.structured).toBe(replacements.size);
  const be = new CpuBackend();
  const model = await Gpt2Model.load(opened.source, opened.config, { backend: be, replacements });
  await opened.source.close();
  const reference = (await be.download(model.forward(Int32Array.from(PROMPT), model.newCache()))).data;
  const ort = await OnnxCausalLm.fromFolder(out);
  const first = await ort.forward(PROMPT.slice(0, 4), ort.emptyCache());
  const second = await ort.forward(PROMPT.slice(4), first.cache);
  expect(relError(new Float32Array([...first.logits, ...second.logits]), reference)).toBeLessThan(1e-4);
  await ort.release();

  const ours = await generate(model, PROMPT, { maxTokens: 24 });
  const lm = await OnnxCausalLm.fromFolder(out);
  expect(await lm.generate(PROMPT, 24, 1)).toEqual(ours);
  await lm.release();
  model.dispose();
  return { out, ours };
}

describe('GPT-2 exported to ONNX (tiny fixture), run by onnxruntime-node', () => {
  it('dense: logits within 1e-4 of the CPU backend through the KV cache; same greedy tokens', async () => {
    const { out, ours } = await check('dense', new Map());
    // the check means something only if generation ran past a token or two
    expect(ours.length).toBeGreaterThan(4);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ model_type: 'gpt2', n_head: 4, n_layer: 2, n_embd: 32 });
    expect(JSON.parse(readFileSync(join(out, 'generation_config.json'), 'utf8')).eos_token_id).toBe(1);
  });

  it('BLAST, low-rank and Monarch Conv1Ds stay structured and match the CPU backend', async () => {
    const rng = new Rng(7);
    const gaussian = (shape: number[], std: number) => {
      const t = new Tensor(shape);
      rng.fillNormal(t.data, std);
      return t;
    };
    // [out, in], as Gpt2Model takes replacements: c_attn [96, 32], c_fc [128, 32], c_proj [32, 128] / [32, 32]
    const r = new Map<string, StructuredMatrix>([
      ['transformer.h.0.attn.c_attn', BlastMatrix.random(96, 32, 4, 6, rng, 0.3)],
      ['transformer.h.0.mlp.c_fc', BlastMatrix.random(128, 32, 4, 8, rng, 0.3)],
      ['transformer.h.1.mlp.c_proj', new LowRankMatrix(gaussian([32, 6], 0.2), gaussian([128, 6], 0.2))],
      ['transformer.h.1.attn.c_proj', new MonarchMatrix(gaussian([4, 8, 8], 0.2), gaussian([4, 8, 8], 0.2))],
    ]);
    await check('structured', r);
  });

  it('exports the same bytes twice, and through the architecture map', async () => {
    const opened = await openHfGpt2(fixture);
    const a = await exportGpt2Onnx(join(work, 'a'), opened);
    const b = await exportOnnx(join(work, 'b'), { architecture: 'gpt2', ...opened }, { dtype: 'fp32' });
    await opened.source.close();
    const bytes = (dir: string) => readFileSync(join(dir, 'onnx/model.onnx'));
    expect(bytes(a.out).equals(bytes(b.out))).toBe(true);
    await expect(
      exportOnnx(join(work, 'c'), { architecture: 'dit', config: {}, source: opened.source }),
    ).rejects.toThrow(/no ONNX export for architecture 'dit' \(there is one for llama, gpt2, vit\)/);
    const wrong = new Map([['transformer.h.5.attn.c_attn', BlastMatrix.random(96, 32, 4, 6, new Rng(1))]]);
    const again = await openHfGpt2(fixture);
    await expect(exportGpt2Onnx(join(work, 'd'), { ...again, replacements: wrong })).rejects.toThrow(
      /no linear 'transformer.h.5.attn.c_attn' to replace \(expected 'transformer.h.\{0…1\}/,
    );
    await again.source.close();
  });
});

/** [rows, cols] → [cols, rows]. */
function transposed(t: Tensor): Tensor {
  const [r, c] = t.shape;
  const out = new Tensor([c, r]);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out.data[j * r + i] = t.data[i * c + j];
  return out;
}

describe("GPT-2 with ROM's output biases", () => {
  it('folds them into the layer biases: the model with those biases added, within 1e-4', async () => {
    const rng = new Rng(12);
    const extra = new Tensor([128]);
    rng.fillNormal(extra.data, 0.5);
    const module = 'transformer.h.0.mlp.c_fc';
    const r = new Map<string, StructuredMatrix>([[module, BlastMatrix.random(128, 32, 4, 8, rng, 0.3)]]);
    const opened = await openHfGpt2(fixture);
    const e = await exportGpt2Onnx(join(work, 'rom'), {
      ...opened,
      replacements: r,
      biases: new Map([[module, extra]]),
    });
    // the reference reads c_fc's own bias with the output bias added
    const own = await opened.source.readTensor(`${module}.bias`);
    const summed = new Tensor(
      own.shape,
      own.data.map((v, i) => v + extra.data[i]),
    );
    const source = {
      names: () => opened.source.names(),
      shapeOf: (name: string) => opened.source.shapeOf(name),
      readTensor: async (name: string) =>
        name === `${module}.bias` ? summed : opened.source.readTensor(name),
      close: () => opened.source.close(),
    };
    const be = new CpuBackend();
    const model = await Gpt2Model.load(source, opened.config, { backend: be, replacements: r });
    await source.close();
    const reference = (await be.download(model.forward(Int32Array.from(PROMPT), model.newCache()))).data;
    model.dispose();
    const lm = await OnnxCausalLm.fromFolder(e.out);
    expect(relError((await lm.forward(PROMPT, lm.emptyCache())).logits, reference)).toBeLessThan(1e-4);
    await lm.release();
  });
});

describe('GPT-2 q8 and q4 exports', () => {
  it('are smaller and compute exactly the model with its weights rounded as stored', async () => {
    const plain = await openHfGpt2(fixture);
    const f = await exportGpt2Onnx(join(work, 'f'), plain);
    await plain.source.close();
    for (const dtype of ['q8', 'q4'] as const) {
      const opened = await openHfGpt2(fixture);
      const r = await exportGpt2Onnx(join(work, dtype), opened, { dtype });
      expect(r.bytes).toBeLessThan(f.bytes);
      // the reference: our CPU backend with the Conv1Ds ([in, out] in the file, [out, in] here) and the token
      // embedding (the tied head with it; one scale per token, blocks along the hidden size) rounded as stored
      const rounded = new Map<string, StructuredMatrix>();
      for (let l = 0; l < opened.config.nLayer; l++)
        for (const m of GPT2_LINEAR_MODULES) {
          const module = `transformer.h.${l}.${m}`;
          const w = transposed(await opened.source.readTensor(`${module}.weight`));
          rounded.set(module, new DenseMatrix(roundTrip(w, dtype)));
        }
      const wte = roundTrip(await opened.source.readTensor('transformer.wte.weight'), dtype);
      const source = {
        names: () => opened.source.names(),
        shapeOf: (name: string) => opened.source.shapeOf(name),
        readTensor: async (name: string) =>
          name === 'transformer.wte.weight' ? wte : opened.source.readTensor(name),
        close: () => opened.source.close(),
      };
      const be = new CpuBackend();
      const model = await Gpt2Model.load(source, opened.config, { backend: be, replacements: rounded });
      await source.close();
      const reference = (await be.download(model.forward(Int32Array.from(PROMPT), model.newCache()))).data;
      model.dispose();
      const lm = await OnnxCausalLm.fromFolder(r.out, { file: r.model.slice('onnx/'.length) });
      const first = await lm.forward(PROMPT.slice(0, 3), lm.emptyCache());
      const second = await lm.forward(PROMPT.slice(3), first.cache);
      expect(relError(new Float32Array([...first.logits, ...second.logits]), reference)).toBeLessThan(1e-4);
      await lm.release();
    }
  });
});

describe('GPT-2 fp16 export', () => {
  it('stores float16 weights, cache and logits; structured too; onnxruntime-node within float16 rounding', async () => {
    const rng = new Rng(7);
    const r = new Map<string, StructuredMatrix>([
      ['transformer.h.0.attn.c_attn', BlastMatrix.random(96, 32, 4, 6, rng, 0.3)],
      [
        'transformer.h.1.attn.c_proj',
        new MonarchMatrix(gaussianOf(rng, [4, 8, 8]), gaussianOf(rng, [4, 8, 8])),
      ],
    ]);
    const opened = await openHfGpt2(fixture);
    const f32 = await exportGpt2Onnx(join(work, 'f32-structured'), { ...opened, replacements: r });
    const half = await exportGpt2Onnx(join(work, 'fp16'), { ...opened, replacements: r }, { dtype: 'fp16' });
    expect(half.model).toBe('onnx/model_fp16.onnx');
    expect(half.structured).toBe(2);
    // the weights are nearly all of the file: half the bytes, give or take the graph
    expect(half.bytes).toBeLessThan(0.6 * f32.bytes);
    const graph = decodeModel(readFileSync(join(half.out, half.model))).graph;
    const floatTypes = new Set(graph.initializer.filter((t) => t.data_type !== 7).map((t) => t.data_type));
    expect(floatTypes).toEqual(new Set([DataType.FLOAT16]));
    const io = new Map([...graph.input, ...graph.output].map((v) => [v.name, v.type.tensor_type.elem_type]));
    expect(io.get('past_key_values.0.key')).toBe(DataType.FLOAT16);
    expect(io.get('present.1.value')).toBe(DataType.FLOAT16);
    expect(io.get('logits')).toBe(DataType.FLOAT16);

    const be = new CpuBackend();
    const model = await Gpt2Model.load(opened.source, opened.config, { backend: be, replacements: r });
    await opened.source.close();
    const reference = (await be.download(model.forward(Int32Array.from(PROMPT), model.newCache()))).data;
    model.dispose();
    const lm = await OnnxCausalLm.fromFolder(half.out, { file: 'model_fp16.onnx' });
    expect(lm.cacheType).toBe('float16');
    const first = await lm.forward(PROMPT.slice(0, 4), lm.emptyCache());
    const second = await lm.forward(PROMPT.slice(4), first.cache);
    // float16 rounds each value to 2^-11 relative; measured 9.6e-4 over the whole graph
    expect(relError(new Float32Array([...first.logits, ...second.logits]), reference)).toBeLessThan(5e-3);
    await lm.release();
  });
});

describe('GPT-2 with external data', () => {
  it('keeps the weights in onnx/model.onnx_data; onnxruntime-node gives identical logits', async () => {
    const opened = await openHfGpt2(fixture);
    const inline = await exportGpt2Onnx(join(work, 'inline'), opened);
    // threshold 0 forces what a model past 2 GB gets by default
    const ext = await exportGpt2Onnx(join(work, 'external'), opened, { externalDataThreshold: 0 });
    await opened.source.close();
    expect(ext.externalData).toBe('onnx/model.onnx_data');
    const data = readFileSync(join(ext.out, 'onnx/model.onnx_data'));
    const proto = readFileSync(join(ext.out, 'onnx/model.onnx'));
    expect(ext.bytes).toBe(data.byteLength + proto.byteLength);
    expect(proto.byteLength).toBeLessThan(inline.bytes / 4);
    const config = JSON.parse(readFileSync(join(ext.out, 'config.json'), 'utf8'));
    expect(config['transformers.js_config'].use_external_data_format).toEqual({ 'model.onnx': 1 });
    // every initializer of 1 KiB or more points into the file, and its bytes there are the inline model's
    const inlineGraph = decodeModel(readFileSync(join(inline.out, 'onnx/model.onnx'))).graph;
    const stored = new Map(inlineGraph.initializer.map((t) => [t.name, t.raw_data as Uint8Array]));
    let external = 0;
    for (const t of decodeModel(proto).graph.initializer) {
      const raw = stored.get(t.name) as Uint8Array;
      if (raw.byteLength < 1024) {
        expect(t.data_location ?? 0).toBe(0);
        continue;
      }
      external++;
      expect(t.data_location).toBe(1);
      const at = Object.fromEntries((t.external_data ?? []).map((e) => [e.key, e.value]));
      expect(at.location).toBe('model.onnx_data');
      const offset = Number(at.offset);
      expect(Number(at.length)).toBe(raw.byteLength);
      expect(data.subarray(offset, offset + raw.byteLength).equals(raw)).toBe(true);
    }
    expect(external).toBeGreaterThanOrEqual(10);

    const a = await OnnxCausalLm.fromFolder(inline.out);
    const b = await OnnxCausalLm.fromFolder(ext.out);
    const la = await a.forward(PROMPT, a.emptyCache());
    const lb = await b.forward(PROMPT, b.emptyCache());
    expect(lb.logits).toEqual(la.logits);
    expect(await b.generate(PROMPT, 8)).toEqual(await a.generate(PROMPT, 8));
    await a.release();
    await b.release();
  });
});

function gaussianOf(rng: Rng, shape: number[]): Tensor {
  const t = new Tensor(shape);
  rng.fillNormal(t.data, 0.2);
  return t;
}
