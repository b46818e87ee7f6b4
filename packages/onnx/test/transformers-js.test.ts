import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fetchAsset } from '@blastkit/assets';
import {
  BlastMatrix,
  CpuBackend,
  LowRankMatrix,
  openBackend,
  Rng,
  type StructuredMatrix,
  Tensor,
} from '@blastkit/core';
import {
  compressLinears,
  Gpt2Model,
  generate,
  LLAMA_LINEAR_SUFFIXES,
  Llama2cCheckpoint,
  Llama2cTokenizer,
  LlamaModel,
  openHfGpt2,
  openHfVit,
  VitModel,
} from '@blastkit/models';
import {
  AutoModelForCausalLM,
  AutoModelForImageClassification,
  AutoTokenizer,
  env,
  type PreTrainedModel,
  Tensor as TjsTensor,
} from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromFloat16 } from '../src/graph/float16.js';
import {
  exportGpt2Onnx,
  exportLlamaOnnx,
  exportVitOnnx,
  type OnnxExportOptions,
  type WeightDtype,
} from '../src/index.js';
import { relError } from './helpers.js';

// This file runs the exported folders with transformers.js only: it brings its own onnxruntime-node (1.30),
// whose libonnxruntime cannot share a process with the 1.31 binding OnnxCausalLm loads (the other tests).

let files: Record<string, string>;
const work = mkdtempSync(join(tmpdir(), 'blastkit-onnx-tjs-'));
beforeAll(async () => {
  files = await fetchAsset('stories15M');
}, 180_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PROMPT = 'Once upon a time';

// in-domain text for the reported perplexities: a fixed TinyStories-style story (deterministic, and no
// sampling run of the reference model to pay for)
const STORY =
  'Once upon a time, there was a little boy named Tim. Tim loved to play with his red ball in the park. ' +
  'One day, he saw a big dog near a tree. The dog was sad because it had lost its bone. Tim wanted to help ' +
  'the dog. He looked under the bench and behind the slide. At last, he found the bone in the sand. The dog ' +
  'was very happy and wagged its tail. Tim and the dog became best friends, and they played together every day.';

/**
 * The compiled CPU backend where its addon is built, else the reference (core's registry, as the CLI's
 * `--backend auto`): for compressing only, where the factors need not be the reference's bytes — the checks
 * compare the export with the reference backend running the same factors.
 */
async function compressionBackend() {
  return (await openBackend('auto', async (pkg) => (await import(pkg)) as Record<string, unknown>)).backend;
}

/** transformers.js reading `dir` from disk only (no hub); returns the id `from_pretrained` takes. */
function local(dir: string): string {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = `${dirname(dir)}/`;
  return dir.slice(dirname(dir).length + 1);
}

function ids(tokens: readonly number[]): TjsTensor {
  return new TjsTensor('int64', BigInt64Array.from(tokens.map(BigInt)), [1, tokens.length]);
}

/** transformers.js's greedy continuation of `prompt` (new tokens only). */
async function tjsGreedy(model: PreTrainedModel, prompt: number[], n: number) {
  const out = (await model.generate({ input_ids: ids(prompt), max_new_tokens: n, do_sample: false })) as {
    tolist(): bigint[][];
  };
  return out.tolist()[0].slice(prompt.length).map(Number);
}

/** transformers.js's logits [n, vocab] for `tokens` in one pass (an fp16 export's widened to float32). */
async function tjsLogits(model: PreTrainedModel, tokens: number[]) {
  const mask = new TjsTensor('int64', new BigInt64Array(tokens.length).fill(1n), [1, tokens.length]);
  const { logits } = await model({ input_ids: ids(tokens), attention_mask: mask });
  return logits.type === 'float16' ? fromFloat16(logits.data as Uint16Array) : (logits.data as Float32Array);
}

/** exp(mean −log p(token i+1 | ≤ i)) from logits [n, vocab]. */
function perplexity(logits: Float32Array, tokens: readonly number[]): number {
  const vocab = logits.length / tokens.length;
  let nll = 0;
  for (let i = 0; i + 1 < tokens.length; i++) {
    const row = logits.subarray(i * vocab, (i + 1) * vocab);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    nll += Math.log(sum) + max - row[tokens[i + 1]];
  }
  return Math.exp(nll / (tokens.length - 1));
}

/**
 * Exports stories15M (with `replacements`) from the open checkpoint `ck`, loads the folder with transformers.js
 * (AutoTokenizer and AutoModelForCausalLM from disk) and checks: the tokenizer gives run.c's ids for the prompt,
 * greedy generation equals blastkit's `generate` for 32 tokens, and the fp32 logits on prompt + continuation are
 * within 1e-4 of our CPU backend's. Returns the loaded transformers.js model (to reuse) and the reference.
 */
async function checkStories(
  ck: Llama2cCheckpoint,
  name: string,
  replacements: Map<string, StructuredMatrix>,
) {
  const out = join(work, name);
  const result = await exportLlamaOnnx(out, {
    config: ck.config,
    source: ck,
    replacements,
    tokenizerPath: files['tokenizer.bin'],
  });
  expect(result.structured).toBe(replacements.size);
  const be = new CpuBackend();
  const cpu = await LlamaModel.load(ck, ck.config, { backend: be, replacements });
  const prompt = (await Llama2cTokenizer.load(files['tokenizer.bin'])).encode(PROMPT, { bos: true });
  const ours = await generate(cpu, prompt, { maxTokens: 32 });

  const id = local(out);
  const tokenizer = await AutoTokenizer.from_pretrained(id);
  expect(Array.from(tokenizer(PROMPT).input_ids.data as BigInt64Array, Number)).toEqual(prompt);
  const model = await AutoModelForCausalLM.from_pretrained(id, { local_files_only: true, dtype: 'fp32' });
  expect(await tjsGreedy(model, prompt, 32)).toEqual(ours);
  const all = [...prompt, ...ours];
  const reference = (await be.download(cpu.forward(Int32Array.from(all), cpu.newCache()))).data;
  cpu.dispose();
  expect(relError(await tjsLogits(model, all), reference)).toBeLessThan(1e-4);
  return { model, tokenizer, prompt, ours, reference, result };
}

/**
 * Each stories15M export's perplexity on STORY through transformers.js, printed, not asserted: fp32 with the
 * already loaded `fp32` model, the other dtypes exported here from `ck`.
 */
async function reportPerplexities(
  ck: Llama2cCheckpoint,
  label: string,
  replacements: Map<string, StructuredMatrix>,
  fp32: { model: PreTrainedModel; result: { model: string; bytes: number } },
) {
  const text = (await Llama2cTokenizer.load(files['tokenizer.bin'])).encode(STORY, { bos: true });
  const report: string[] = [];
  const measure = async (
    dtype: WeightDtype,
    model: PreTrainedModel,
    written: { model: string; bytes: number },
  ) => {
    const ppl = perplexity(await tjsLogits(model, text), text);
    expect(Number.isFinite(ppl)).toBe(true);
    report.push(
      `${label} ${dtype}: ${written.model} ${(written.bytes / 2 ** 20).toFixed(1)} MiB, perplexity ${ppl.toFixed(3)}`,
    );
  };
  await measure('fp32', fp32.model, fp32.result);
  for (const dtype of ['fp16', 'q8', 'q4'] as const) {
    const out = join(work, `ppl-${label}-${dtype}`);
    const written = await exportLlamaOnnx(out, { config: ck.config, source: ck, replacements }, { dtype });
    // transformers.js picks the file by its dtype option: model_fp16.onnx, model_quantized.onnx, model_q4.onnx
    const model = await AutoModelForCausalLM.from_pretrained(local(out), { local_files_only: true, dtype });
    await measure(dtype, model, written);
    await model.dispose();
  }
  console.log(
    `stories15M ONNX exports, perplexity on ${text.length} in-domain tokens (transformers.js):\n  ${report.join('\n  ')}`,
  );
}

describe('transformers.js 4 loads the exported folders from disk (Node, onnxruntime-node CPU)', () => {
  it('dense stories15M: same tokenizer ids, same 32 greedy tokens as blastkit, logits within 1e-4', async () => {
    const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
    const dense = await checkStories(ck, 'stories-dense', new Map());
    expect(dense.tokenizer.decode(dense.ours, { skip_special_tokens: true })).toContain(
      'there was a little girl named Lily',
    );
    await reportPerplexities(ck, 'dense', new Map(), dense);
    await dense.model.dispose();
    await ck.close();
  }, 120_000);

  it('dense stories15M as fp16: float16 cache and logits; greedy tokens and logits close to fp32', async () => {
    const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
    const out = join(work, 'stories-fp16');
    const written = await exportLlamaOnnx(
      out,
      { config: ck.config, source: ck, tokenizerPath: files['tokenizer.bin'] },
      { dtype: 'fp16' },
    );
    expect(written.model).toBe('onnx/model_fp16.onnx');
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config['transformers.js_config'].dtype).toBe('fp16');
    const be = new CpuBackend();
    const cpu = await LlamaModel.load(ck, ck.config, { backend: be });
    await ck.close();
    const prompt = (await Llama2cTokenizer.load(files['tokenizer.bin'])).encode(PROMPT, { bos: true });
    const ours = await generate(cpu, prompt, { maxTokens: 32 });
    const all = [...prompt, ...ours];
    const reference = (await be.download(cpu.forward(Int32Array.from(all), cpu.newCache()))).data;
    cpu.dispose();
    // no dtype option: the folder's config.json names fp16, so a plain from_pretrained finds model_fp16.onnx
    const model = await AutoModelForCausalLM.from_pretrained(local(out), { local_files_only: true });
    const half = await tjsGreedy(model, prompt, 32);
    const logits = await tjsLogits(model, all);
    await model.dispose();
    console.log(
      `fp16 stories15M: logits relative error ${relError(logits, reference).toExponential(2)}; greedy ${half.join(' ')} vs ${ours.join(' ')}`,
    );
    expect(half).toEqual(ours);
    // float16 keeps 11 significant bits (relative 4.9e-4 a rounding); measured here 9.2e-4
    expect(relError(logits, reference)).toBeLessThan(5e-3);
  }, 120_000);

  it('BLAST-50% stories15M: 42 BLAST linears; same tokens and logits; fp16, q8 and q4 run by dtype', async () => {
    // all 42 projections to plain BLAST at 50% (16 blocks); 2 solver steps keep it fast: the check is the
    // export, not the factorization's quality
    const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
    const modules: string[] = [];
    for (let l = 0; l < ck.config.numLayers; l++)
      for (const s of LLAMA_LINEAR_SUFFIXES) modules.push(`model.layers.${l}.${s}`);
    const { replacements } = await compressLinears(ck, modules, {
      method: 'blast',
      ratio: 0.5,
      steps: 2,
      backend: await compressionBackend(),
    });
    const blast = await checkStories(ck, 'stories-blast', replacements);
    expect(blast.result.structured).toBe(42);
    await reportPerplexities(ck, 'blast', replacements, blast);
    await blast.model.dispose();
    await ck.close();
  }, 300_000);

  it('tiny GPT-2, dense, with two Conv1Ds structured, and with external data: same tokens and logits', async () => {
    const rng = new Rng(9);
    const gaussian = (shape: number[]) => {
      const t = new Tensor(shape);
      rng.fillNormal(t.data, 0.2);
      return t;
    };
    const prompt = [0, 5, 9, 3, 17, 40, 22];
    const structured = new Map<string, StructuredMatrix>([
      ['transformer.h.0.attn.c_attn', BlastMatrix.random(96, 32, 4, 6, rng, 0.3)],
      ['transformer.h.1.mlp.c_fc', new LowRankMatrix(gaussian([128, 6]), gaussian([32, 6]))],
    ]);
    const variants: [string, Map<string, StructuredMatrix>, OnnxExportOptions][] = [
      ['gpt2-dense', new Map(), {}],
      ['gpt2-structured', structured, {}],
      // the weights in onnx/model.onnx_data however small (threshold 0), as past 2 GB: transformers.js must
      // be told by config.json to fetch the file, else onnxruntime finds no data
      ['gpt2-external', structured, { externalDataThreshold: 0 }],
    ];
    for (const [name, replacements, options] of variants) {
      const opened = await openHfGpt2(join(import.meta.dirname, '../../models/fixtures/tiny-gpt2'));
      const out = join(work, name);
      const written = await exportGpt2Onnx(out, { ...opened, replacements }, options);
      expect(existsSync(join(out, 'onnx/model.onnx_data'))).toBe(name === 'gpt2-external');
      expect(written.externalData).toBe(name === 'gpt2-external' ? 'onnx/model.onnx_data' : undefined);
      const be = new CpuBackend();
      const cpu = await Gpt2Model.load(opened.source, opened.config, { backend: be, replacements });
      await opened.source.close();
      // the tiny fixture has no tokenizer: ids go in directly
      const model = await AutoModelForCausalLM.from_pretrained(local(out), {
        local_files_only: true,
        dtype: 'fp32',
      });
      const ours = await generate(cpu, prompt, { maxTokens: 24 });
      expect(ours.length).toBeGreaterThan(4);
      expect(await tjsGreedy(model, prompt, 24)).toEqual(ours);
      const reference = (await be.download(cpu.forward(Int32Array.from(prompt), cpu.newCache()))).data;
      expect(relError(await tjsLogits(model, prompt), reference)).toBeLessThan(1e-4);
      await model.dispose();
      cpu.dispose();
    }
  });

  it('tiny ViT: AutoModelForImageClassification class scores within 1e-4 of blastkit', async () => {
    const opened = await openHfVit(join(import.meta.dirname, '../../models/fixtures/tiny-vit'));
    const out = join(work, 'vit');
    await exportVitOnnx(out, opened);
    const be = new CpuBackend();
    const cpu = await VitModel.load(opened.source, opened.config, { backend: be });
    await opened.source.close();
    const pixels = new Tensor([2, 3, 16, 16]);
    new Rng(4).fillNormal(pixels.data, 0.6);
    const reference = (await be.download(cpu.forward(pixels))).data;
    cpu.dispose();
    // pixel values go in already normalized: transformers.js's image processor needs sharp, not built here
    const model = await AutoModelForImageClassification.from_pretrained(local(out), { dtype: 'fp32' });
    const { logits } = await model({ pixel_values: new TjsTensor('float32', pixels.data, [2, 3, 16, 16]) });
    expect(logits.dims).toEqual([2, 10]);
    expect(relError(logits.data as Float32Array, reference)).toBeLessThan(1e-4);
    expect((model.config as unknown as { id2label: Record<string, string> }).id2label[0]).toBe('LABEL_0');
    await model.dispose();
  });
});
