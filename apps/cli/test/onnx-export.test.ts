import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchAsset } from '@blastkit/assets';
import { CpuBackend } from '@blastkit/core';
import {
  HfTokenizer,
  Llama2cCheckpoint,
  Llama2cTokenizer,
  LlamaModel,
  openLlamaFolder,
} from '@blastkit/models';
import { OnnxCausalLm } from '@blastkit/onnx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGenerate } from '../src/index.js';
import { relError, runCli } from './cli-harness.js';

let dir: string;
let files: Record<string, string>;
beforeAll(async () => {
  files = await fetchAsset('stories15M');
  dir = await mkdtemp(join(tmpdir(), 'blastkit-onnx-cli-'));
}, 180_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const PROMPT = 'Once upon a time';

/**
 * Exports `model` with --onnx, then checks onnxruntime-node's greedy tokens against `blastkit generate`'s (32
 * tokens, CPU backend) and its logits on prompt + continuation against our CPU backend's (1e-4 relative).
 */
async function exportAndCheck(
  model: string,
  out: string,
  load: (be: CpuBackend) => Promise<{ cpu: LlamaModel; close: () => Promise<void> }>,
) {
  const { out: printed } = await runCli(['export', model, '--onnx', '--out', out, '--json']);
  const r = JSON.parse(printed);
  expect(r.format).toBe('onnx');
  for (const f of [
    'config.json',
    'generation_config.json',
    'tokenizer.json',
    'tokenizer_config.json',
    'onnx/model.onnx',
  ])
    expect(existsSync(join(out, f)), f).toBe(true);
  expect(existsSync(join(out, '.blastkit-output'))).toBe(true);
  const ours = await runGenerate({ model, prompt: PROMPT, maxTokens: 32, backend: 'cpu' });
  const tokenizer = await Llama2cTokenizer.load(files['tokenizer.bin']);
  const prompt = tokenizer.encode(PROMPT, { bos: true });
  const lm = await OnnxCausalLm.fromFolder(out, { threads: 2 });
  try {
    expect(await lm.generate(prompt, 32)).toEqual(ours.tokens.slice(0, 32));
    const all = [...prompt, ...ours.tokens.slice(0, 32)];
    const onnx = await lm.forward(all, lm.emptyCache());
    const be = new CpuBackend();
    const { cpu, close } = await load(be);
    const reference = (await be.download(cpu.forward(Int32Array.from(all), cpu.newCache()))).data;
    await close();
    expect(relError(onnx.logits, reference)).toBeLessThan(1e-4);
  } finally {
    await lm.release();
  }
  // the converted tokenizer.json gives run.c's ids on the prompt
  expect((await HfTokenizer.load(join(out, 'tokenizer.json'))).encode(PROMPT)).toEqual(prompt.slice(1));
  return r;
}

describe('blastkit export --onnx (stories15M), checked with onnxruntime-node', () => {
  it('dense stories15M: same greedy tokens as blastkit generate, logits within 1e-4', async () => {
    const out = join(dir, 'dense-onnx');
    const r = await exportAndCheck('stories15M', out, async (be) => {
      const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
      const cpu = await LlamaModel.load(ck, ck.config, { backend: be });
      return { cpu, close: () => ck.close() };
    });
    expect(r.modules).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).model_type).toBe('llama');
  }, 120_000);

  it('BLAST-50% stories15M: 42 BLAST linears kept structured; same tokens, logits within 1e-4', async () => {
    const compressed = join(dir, 'blast');
    await runCli([
      'compress',
      'stories15M',
      '--method',
      'blast',
      '--ratio',
      '0.5',
      '--steps',
      '2',
      '--out',
      compressed,
    ]);
    const out = join(dir, 'blast-onnx');
    const r = await exportAndCheck(compressed, out, async (be) => {
      const o = await openLlamaFolder(compressed);
      const cpu = await LlamaModel.load(o.source, o.config, { backend: be, replacements: o.replacements });
      return { cpu, close: () => o.source.close() };
    });
    expect(r.modules).toBe(42);
    // q8 and q4 files: smaller, and they run
    for (const [dtype, file] of [
      ['q8', 'model_quantized.onnx'],
      ['q4', 'model_q4.onnx'],
    ]) {
      const qOut = join(dir, `blast-onnx-${dtype}`);
      const q = JSON.parse(
        (await runCli(['export', compressed, '--onnx', '--onnx-dtype', dtype, '--out', qOut, '--json'])).out,
      );
      expect(q.onnx.model).toBe(`onnx/${file}`);
      expect(q.onnx.bytes).toBeLessThan(r.onnx.bytes);
      const lm = await OnnxCausalLm.fromFolder(qOut, { file });
      expect((await lm.generate([1, 9038, 2501, 263, 931], 4)).length).toBe(4);
      await lm.release();
    }
  }, 180_000);

  it('refuses --onnx together with --dense, and a non-Llama model', async () => {
    await expect(
      runCli(['export', 'stories15M', '--onnx', '--dense', '--out', join(dir, 'x')]),
    ).rejects.toThrow(/exactly one of --dense, --reference and --onnx/);
  });
});
