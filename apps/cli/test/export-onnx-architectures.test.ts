import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuBackend, Rng, Tensor } from '@blastkit/core';
import type { DecoderLm, VitModel } from '@blastkit/models';
import { loadOnnxRuntime, OnnxCausalLm } from '@blastkit/onnx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCompress } from '../src/index.js';
import { disposeModel, loadModel } from '../src/io/architecture.js';
import { openModel } from '../src/io/model-input.js';
import { modelFixtures, relError, runCli } from './cli-harness.js';

// `blastkit export --onnx` beyond Llama-from-llama2.c (onnx-export.test.ts): GPT-2 and ViT folders and a Llama
// folder with ROM's output biases, each checked by running the exported graph in onnxruntime-node against the
// blastkit model on the CPU reference backend (1e-4 relative, as the @blastkit/onnx tests).
let dir: string;
const at = (...p: string[]) => join(dir, ...p);
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-export-onnx-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `blastkit export <model> --onnx --out <out> …extra --json`, parsed. */
async function exportOnnxCli(model: string, out: string, extra: string[] = []) {
  const r = JSON.parse((await runCli(['export', model, '--onnx', '--out', out, ...extra, '--json'])).out);
  expect(r.format).toBe('onnx');
  expect(existsSync(join(out, r.onnx.model))).toBe(true);
  return r as {
    modules: number;
    architecture: string;
    onnx: { model: string; bytes: number; dtype: string };
  };
}

/** The blastkit model's logits on `ids` (one forward from an empty cache) on the CPU reference backend. */
async function cpuLogits(model: string, ids: number[]): Promise<Float32Array> {
  const be = new CpuBackend();
  const opened = await openModel(model);
  try {
    const loaded = await loadModel(opened, be);
    // biome-ignore lint/suspicious/noExplicitAny: any decoder's cache type will do
    const lm = loaded as unknown as DecoderLm<any>;
    const out = (await be.download(lm.forward(Int32Array.from(ids), lm.newCache()))).data;
    disposeModel(loaded);
    return out;
  } finally {
    await opened.source.close();
  }
}

/** onnxruntime-node's logits on `ids`, prompt then the rest through the KV cache (both halves of the graph). */
async function onnxLogits(folder: string, ids: number[], file?: string): Promise<Float32Array> {
  const lm = await OnnxCausalLm.fromFolder(folder, { threads: 1, ...(file ? { file } : {}) });
  try {
    const half = Math.floor(ids.length / 2);
    const first = await lm.forward(ids.slice(0, half), lm.emptyCache());
    const second = await lm.forward(ids.slice(half), first.cache);
    return new Float32Array([...first.logits, ...second.logits]);
  } finally {
    await lm.release();
  }
}

const IDS = Array.from({ length: 12 }, (_, i) => (i * 7 + 3) % 64);

describe('blastkit export --onnx: GPT-2, ViT and ROM biases, checked with onnxruntime-node', () => {
  it('GPT-2 compressed with BLAST: structured graph, logits within 1e-4 (fp32) and 5e-3 (fp16)', async () => {
    await runCompress({
      model: join(modelFixtures, 'tiny-gpt2'),
      method: 'blast',
      ratio: 0.5,
      blocks: 2,
      steps: 5,
      out: at('gpt2-blast'),
    });
    const r = await exportOnnxCli(at('gpt2-blast'), at('gpt2-onnx'));
    expect(r).toMatchObject({ architecture: 'gpt2', modules: 8 });
    expect(JSON.parse(readFileSync(at('gpt2-onnx', 'config.json'), 'utf8')).model_type).toBe('gpt2');
    const reference = await cpuLogits(at('gpt2-blast'), IDS);
    expect(relError(await onnxLogits(at('gpt2-onnx'), IDS), reference)).toBeLessThan(1e-4);

    const half = await exportOnnxCli(at('gpt2-blast'), at('gpt2-onnx-fp16'), ['--onnx-dtype', 'fp16']);
    expect(half.onnx).toMatchObject({ model: 'onnx/model_fp16.onnx', dtype: 'fp16' });
    // weights halve; the nodes (two paths per BLAST layer) do not, and they are a fifth of this tiny file
    expect(half.onnx.bytes).toBeLessThan(0.7 * r.onnx.bytes);
    const fp16 = await onnxLogits(at('gpt2-onnx-fp16'), IDS, 'model_fp16.onnx');
    expect(relError(fp16, reference)).toBeLessThan(5e-3);
  }, 60_000);

  it('ViT compressed with low-rank: class scores of a batch within 1e-4', async () => {
    await runCompress({
      model: join(modelFixtures, 'tiny-vit'),
      method: 'lowrank',
      ratio: 0.5,
      out: at('vit-lr'),
    });
    const r = await exportOnnxCli(at('vit-lr'), at('vit-onnx'));
    expect(r).toMatchObject({ architecture: 'vit', modules: 12 });
    expect(existsSync(at('vit-onnx', 'preprocessor_config.json'))).toBe(true);
    const opened = await openModel(at('vit-lr'));
    const config = opened.config as VitModel['config'];
    const pixels = new Tensor([2, config.numChannels, config.imageSize, config.imageSize]);
    new Rng(3).fillNormal(pixels.data, 0.6);
    const be = new CpuBackend();
    const vit = (await loadModel(opened, be)) as unknown as VitModel;
    const reference = (await be.download(vit.forward(pixels))).data;
    disposeModel(vit as never);
    await opened.source.close();
    const ort = await loadOnnxRuntime();
    const session = await ort.InferenceSession.create(at('vit-onnx', r.onnx.model));
    const { logits } = await session.run({
      pixel_values: new ort.Tensor('float32', pixels.data, pixels.shape),
    });
    await session.release();
    expect(logits.dims).toEqual([2, config.numLabels]);
    expect(relError(logits.data as Float32Array, reference)).toBeLessThan(1e-4);
  }, 60_000);

  it("a Llama ROM folder: its output biases are exported (logits within 1e-4; without them they'd differ)", async () => {
    await runCompress({
      model: join(modelFixtures, 'tiny-llama'),
      method: 'rom',
      ratio: 0.5,
      calibration: 'random',
      calibrationTokens: 96,
      out: at('llama-rom'),
    });
    const opened = await openModel(at('llama-rom'));
    const biases = opened.biases;
    await opened.source.close();
    expect(biases.size).toBeGreaterThan(0);
    expect([...biases.values()].some((b) => b.data.some((v) => Math.abs(v) > 1e-4))).toBe(true);
    const r = await exportOnnxCli(at('llama-rom'), at('llama-rom-onnx'));
    expect(r).toMatchObject({ architecture: 'llama', modules: biases.size });
    const reference = await cpuLogits(at('llama-rom'), IDS);
    const onnx = await onnxLogits(at('llama-rom-onnx'), IDS);
    expect(relError(onnx, reference)).toBeLessThan(1e-4);
  }, 60_000);

  it('refuses an architecture without an ONNX exporter, naming those with one', async () => {
    await expect(
      runCli(['export', join(modelFixtures, 'tiny-dit'), '--onnx', '--out', at('dit-onnx')]),
    ).rejects.toThrow(/--onnx exports llama, gpt2, vit models; .* is dit/);
  });
});
