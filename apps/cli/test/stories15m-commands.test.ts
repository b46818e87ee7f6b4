import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchAsset } from '@blastkit/assets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram, runCompress, runEval, runGenerate, runInspect } from '../src/index.js';

let dir: string;
beforeAll(async () => {
  await fetchAsset('stories15M');
  dir = await mkdtemp(join(tmpdir(), 'blastkit-stories-'));
}, 180_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('blastkit generate / eval on stories15M', () => {
  it('generate: greedy text is the known continuation, streamed as it comes', async () => {
    let streamed = '';
    const r = await runGenerate({
      model: 'stories15M',
      prompt: 'Once upon a time',
      maxTokens: 20,
      onText: (t) => (streamed += t),
    });
    expect(r.text).toMatch(/^, there was a little girl named Lily\. She loved to play outside/);
    expect(streamed).toBe(r.text);
    expect(r.promptTokens).toBe(5);
    const again = await runGenerate({
      model: 'stories15M',
      prompt: 'The dog',
      maxTokens: 12,
      temperature: 1,
      seed: 7,
    });
    const same = await runGenerate({
      model: 'stories15M',
      prompt: 'The dog',
      maxTokens: 12,
      temperature: 1,
      seed: 7,
    });
    expect(same.tokens).toEqual(again.tokens);
  });

  it('the command line prints the prompt and the continuation', async () => {
    let out = '';
    await buildProgram({ out: (s) => (out += s), err: () => {} }).parseAsync([
      'node',
      'blastkit',
      'generate',
      'stories15M',
      '--prompt',
      'Once upon a time',
      '--max-tokens',
      '8',
    ]);
    expect(out).toMatch(/^Once upon a time, there was a little girl/);
  });

  it('eval: perplexity with the protocol recorded; a compressed copy compared with the dense model', async () => {
    const alone = await runEval({ model: 'stories15M', maxTokens: 96, window: 64 });
    expect(alone.protocol).toEqual({ window: 64, stride: 32, prefixToken: 1 });
    expect(alone.text?.tokens).toBe(96);
    expect(alone.perplexity?.perplexity).toBeGreaterThan(1);

    // a quick, partial compression: one layer's attention projections to low rank
    await runCompress({
      model: 'stories15M',
      method: 'lowrank',
      ratio: 0.25,
      targetModules: /model\.layers\.0\.self_attn\..*/,
      out: join(dir, 'lr'),
    });
    const cmp = await runEval({
      model: join(dir, 'lr'),
      reference: 'stories15M',
      text: 'in-domain',
      maxTokens: 64,
      window: 64,
    });
    expect(cmp.text?.source).toMatch(/^in-domain: 64 tokens sampled from the dense model/);
    const c = cmp.comparison;
    expect(c?.tokens).toBe(64);
    expect(c?.klDivergence).toBeGreaterThan(0);
    expect(c?.top1Agreement).toBeGreaterThan(0.3);
    expect(c?.top1Agreement).toBeLessThanOrEqual(1);
  }, 120_000);

  it('compress --method blast-data calibrates on sampled text and beats plain BLAST on the output error', async () => {
    const common = {
      model: 'stories15M',
      ratio: 0.3,
      blocks: 4,
      steps: 15,
      targetModules: ['model.layers.1.mlp.down_proj'],
    };
    const data = await runCompress({
      ...common,
      method: 'blast-data',
      calibration: 'in-domain',
      calibrationTokens: 128,
      out: join(dir, 'data'),
    });
    const plain = await runCompress({ ...common, method: 'blast', out: join(dir, 'plain') });
    // eval against the dense model on in-domain text (one window: --compare's two 1024-token texts cost minutes)
    const evalOf = (out: string) =>
      runEval({ model: join(dir, out), reference: 'stories15M', text: 'in-domain', maxTokens: 256 });
    const [dataEval, plainEval] = [await evalOf('data'), await evalOf('plain')];
    expect(data.modules).toHaveLength(1);
    expect(data.modules[0].kind).toBe('blast');
    // data-aware trades weight error for output error: the layer's outputs, and the model's, move less
    expect(data.modules[0].relativeError).toBeGreaterThan(plain.modules[0].relativeError);
    const layerError = (r: typeof dataEval) => r.layers?.layers[0].relativeError as number;
    expect(layerError(dataEval)).toBeLessThan(layerError(plainEval));
    expect(dataEval.comparison?.klDivergence).toBeLessThan(plainEval.comparison?.klDivergence as number);
    await expect(runCompress({ ...common, method: 'blast-data', out: join(dir, 'x') })).rejects.toThrow(
      /needs --calibration/,
    );
  }, 180_000);

  it('compress --method svd-llm --sequential: low-rank budget, calibrated block by block, recorded as such', async () => {
    const common = {
      model: 'stories15M',
      ratio: 0.5,
      layers: [0, 1],
      targetModules: ['mlp.down_proj'],
      calibration: 'in-domain',
      calibrationTokens: 128,
    };
    const seq = await runCompress({
      ...common,
      method: 'svd-llm',
      sequential: true,
      out: join(dir, 'svd-seq'),
    });
    const par = await runCompress({ ...common, method: 'svd-llm', out: join(dir, 'svd-par') });
    expect(seq.modules.map((m) => [m.kind, m.rank])).toEqual([
      ['low-rank', 104],
      ['low-rank', 104],
    ]);
    expect(seq.blocks).toBeNull();
    // block 0 saw the dense inputs either way; block 1 saw the compressed block 0's
    expect(seq.modules[0].relativeError).toBeCloseTo(par.modules[0].relativeError, 6);
    expect(seq.modules[1].relativeError).not.toBeCloseTo(par.modules[1].relativeError, 6);
    await expect(
      runCompress({ ...common, method: 'lowrank', sequential: true, out: join(dir, 'x') }),
    ).rejects.toThrow(/--sequential: lowrank uses no calibration/);
  }, 180_000);

  it('inspect --dry-run plans per layer (uniform or allocated); compress --budget follows the plan exactly', async () => {
    const uniform = await runInspect('stories15M', { method: 'lowrank', ratio: 0.5, layers: [0] });
    expect(uniform.plan?.layers).toHaveLength(7);
    expect(uniform.plan?.layers[0]).toMatchObject({
      name: 'model.layers.0.self_attn.q_proj',
      rank: 72,
      parameters: 72 * 576,
    });
    expect(uniform.plan?.totals.ratio).toBeLessThanOrEqual(0.5);
    const allocated = await runInspect('stories15M', {
      method: 'lowrank',
      ratio: 0.5,
      layers: [0],
      allocate: true,
    });
    const plan = allocated.plan as NonNullable<typeof allocated.plan>;
    expect(plan.totals.parameters).toBeLessThanOrEqual(0.5 * plan.totals.denseParameters);
    expect(new Set(plan.layers.map((l) => l.rank)).size).toBeGreaterThan(1); // not the same rank everywhere
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'plan.json'), JSON.stringify(allocated));
    const r = await runCompress({
      model: 'stories15M',
      method: 'lowrank',
      budget: join(dir, 'plan.json'),
      out: join(dir, 'budget'),
    });
    expect(r.modules.map((m) => [m.name, m.rank])).toEqual(plan.layers.map((l) => [l.name, l.rank]));
    expect(r.linearParameters.compressed).toBe(plan.totals.parameters);
    await expect(
      runCompress({ model: 'stories15M', method: 'lowrank', out: join(dir, 'x') }),
    ).rejects.toThrow(/exactly one of --ratio and --budget/);
  }, 120_000);

  it('a BLAST-compressed stories15M generates the same greedy tokens on WebGPU (software adapter) as on the CPU', async () => {
    await runCompress({
      model: 'stories15M',
      method: 'blast',
      ratio: 0.5,
      steps: 5,
      layers: [0, 1],
      out: join(dir, 'webgpu-check'),
    });
    const args = { model: join(dir, 'webgpu-check'), prompt: 'Once upon a time', maxTokens: 8 };
    const cpu = await runGenerate({ ...args, backend: 'cpu' });
    const gpu = await runGenerate({ ...args, backend: 'webgpu' });
    expect(gpu.backend).toBe('webgpu');
    expect(gpu.tokens).toEqual(cpu.tokens);
  }, 180_000);
});
