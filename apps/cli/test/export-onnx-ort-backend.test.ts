import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEval, runGenerate, UsageError } from '../src/index.js';
import { modelFixtures, runCli } from './cli-harness.js';

// `blastkit eval` and `generate` with `--backend ort`: the folder `export --onnx` wrote, run by onnxruntime-node,
// against the same commands on the CPU reference backend.
let dir: string;
const at = (...p: string[]) => join(dir, ...p);
const PROMPT = 'Once upon a time';
const STORY =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her ' +
  'friends. One day, she saw a big red ball under a tree. She wanted to play with it, but it was too high. ' +
  'Lily asked her mom for help. Her mom smiled and said, "Let us get it together." They found a long stick ' +
  'and pushed the ball down. Lily was so happy. She said thank you to her mom and played with the ball all day.';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-ort-backend-'));
  await writeFile(at('story.txt'), STORY);
  await runCli(['export', 'stories15M', '--onnx', '--out', at('fp32')]);
  await runCli(['export', 'stories15M', '--onnx', '--onnx-dtype', 'q8', '--out', at('q8')]);
}, 120_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('--backend ort on an exported stories15M folder', () => {
  it('generate: the greedy tokens of blastkit generate on the CPU backend', async () => {
    const ort = await runGenerate({ model: at('fp32'), prompt: PROMPT, maxTokens: 24, backend: 'ort' });
    const cpu = await runGenerate({ model: 'stories15M', prompt: PROMPT, maxTokens: 24, backend: 'cpu' });
    expect(ort.backend).toBe('ort');
    expect(ort.backendDescription.engine).toMatch(/onnxruntime-node .* onnx\/model\.onnx/);
    expect(ort.promptTokens).toBe(cpu.promptTokens);
    expect(ort.tokens).toEqual(cpu.tokens);
    expect(ort.text).toBe(cpu.text);
    expect(ort.linearParameters).toBeNull();
  }, 60_000);

  it('eval: fp32 perplexity equals the CPU backend on the same windows; q8 runs its own graph', async () => {
    const options = { text: at('story.txt'), window: 64, maxTokens: 120 };
    const ort = await runEval({ model: at('fp32'), backend: 'ort', ...options });
    const cpu = await runEval({ model: 'stories15M', backend: 'cpu', ...options });
    expect(ort.protocol).toEqual(cpu.protocol);
    expect(ort.perplexity?.tokens).toBe(cpu.perplexity?.tokens);
    const [a, b] = [ort.perplexity?.perplexity as number, cpu.perplexity?.perplexity as number];
    expect(Math.abs(a - b) / b).toBeLessThan(1e-4);
    expect(ort.records[0]).toMatchObject({ metric: 'perplexity', backend: 'ort' });

    const q8 = await runEval({ model: at('q8'), backend: 'ort', ...options });
    expect(q8.model).toMatch(/model_quantized\.onnx, q8/);
    const p8 = q8.perplexity?.perplexity as number;
    // int8 weights move it a little, not to another model's
    expect(p8).not.toBe(a);
    expect(Math.abs(Math.log(p8 / a))).toBeLessThan(0.2);
  }, 120_000);

  it('eval --text in-domain --reference: the text eval samples from the reference, scored by the export', async () => {
    const options = {
      text: 'in-domain',
      reference: 'stories15M',
      maxTokens: 64,
      window: 32,
      backend: 'auto',
    };
    const ort = await runEval({ ...options, model: at('fp32'), backend: 'ort' });
    // the dense model against itself: its perplexity on the same sampled text and windows
    const own = await runEval({ ...options, model: 'stories15M' });
    expect(ort.text).toEqual(own.text);
    expect(ort.protocol).toEqual(own.protocol);
    const b = own.comparison?.candidate.perplexity as number;
    expect(Math.abs((ort.perplexity?.perplexity as number) - b) / b).toBeLessThan(1e-4);
    expect(ort.notes[0]).toMatch(/sampled the in-domain text only/);
  }, 60_000);

  it('refuses sampling, models that are not exported folders, and in-domain text without a reference', async () => {
    await expect(
      runGenerate({ model: at('fp32'), prompt: PROMPT, backend: 'ort', temperature: 0.8 }),
    ).rejects.toThrow(/greedily/);
    await expect(
      runGenerate({ model: join(modelFixtures, 'tiny-llama', 'nope'), prompt: PROMPT, backend: 'ort' }),
    ).rejects.toThrow(UsageError);
    await expect(runEval({ model: at('fp32'), backend: 'ort', text: 'in-domain' })).rejects.toThrow(
      /samples the text from --reference/,
    );
  });
});
