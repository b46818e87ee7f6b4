import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuBackend } from '@blastkit/core';
import { LlamaModel, openLlamaFolder } from '@blastkit/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCompress, InterruptedError, runCompress, runInspect, UsageError } from '../src/index.js';
import { modelFixtures as fixtures } from './cli-harness.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-cli-models-'));
  await cp(join(fixtures, 'tiny-llama'), join(dir, 'tiny'), { recursive: true });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const compressOptions = (out: string) => ({
  model: join(dir, 'tiny'),
  method: 'blast' as const,
  ratio: 0.5,
  blocks: 4,
  steps: 20,
  seed: 1,
  out: join(dir, out),
});

describe('blastkit compress', () => {
  it('compresses every projection, saves a folder that reloads into the same model, and inspect reads it', async () => {
    const r = await runCompress(compressOptions('blast'));
    expect(r.modules).toHaveLength(2 * 7);
    expect(r.linearParameters.ratio).toBeLessThanOrEqual(0.5);
    expect(r.modules.every((m) => m.kind === 'blast' && m.blocks === 4 && m.relativeError < 1)).toBe(true);
    expect(existsSync(join(dir, 'blast.checkpoints'))).toBe(false);

    const config = JSON.parse(readFileSync(join(dir, 'blast', 'config.json'), 'utf8'));
    expect(config.compression_config).toMatchObject({ format_version: 1, method: 'blast', ratio: 0.5 });
    expect(config.compression_config.modules['model.layers.0.mlp.up_proj']).toEqual({
      kind: 'blast',
      rank: expect.any(Number),
      blocks: 4,
    });

    const opened = await openLlamaFolder(join(dir, 'blast'));
    expect(opened.replacements.size).toBe(14);
    const be = new CpuBackend();
    const model = await LlamaModel.load(opened.source, opened.config, {
      backend: be,
      replacements: opened.replacements,
    });
    expect(model.linearParameterCount()).toBe(r.linearParameters.compressed);
    const ids = Int32Array.from([1, 5, 17, 42]);
    const logits = await be.download(model.forward(ids, model.newCache()));
    expect(logits.data.every(Number.isFinite)).toBe(true);
    await opened.source.close();

    const inspected = await runInspect(join(dir, 'blast'));
    expect(inspected.kind).toBe('model');
    expect(inspected.model?.linearParameters).toBe(r.linearParameters.compressed);
    expect(inspected.tensors.some((t) => t.name === 'model.layers.1.self_attn.q_proj.D')).toBe(true);
  });

  it('an interrupted run keeps finished modules; --resume continues it and gives the uninterrupted result', async () => {
    const full = await runCompress(compressOptions('full'));
    const controller = new AbortController();
    await expect(
      runCompress({
        ...compressOptions('cut'),
        signal: controller.signal,
        onModule: (e) => {
          if (e.index === 2) controller.abort(new Error('interrupted'));
        },
      }),
    ).rejects.toThrow(InterruptedError);
    expect(existsSync(join(dir, 'cut'))).toBe(false);
    expect(existsSync(join(dir, 'cut.checkpoints'))).toBe(true);
    await expect(runCompress(compressOptions('cut'))).rejects.toThrow(/pass --resume to continue it/);
    const resumed = await runCompress({ ...compressOptions('cut'), resume: true });
    expect(resumed.resumedModules).toBe(3);
    expect(readFileSync(join(dir, 'cut', 'model.safetensors'))).toEqual(
      readFileSync(join(dir, 'full', 'model.safetensors')),
    );
    expect(resumed.modules.map((m) => m.relativeError)).toEqual(full.modules.map((m) => m.relativeError));
  });

  it('--allocate sensitivity: ranks moved to where the measured KL is, the budget met within 1%, recorded', async () => {
    const options = {
      ...compressOptions('allocated'),
      method: 'svd-llm' as const,
      calibration: 'random',
      calibrationTokens: 256,
      allocate: 'sensitivity' as const,
    };
    const r = await runCompress(options);
    // over every linear (modules the plan keeps dense are not in the report, whose ratio is over the rest)
    const kept = (await runInspect(join(dir, 'allocated'))).model?.linearParameters ?? 0;
    const dense = (await runInspect(join(dir, 'tiny'))).model?.linearParameters ?? 1;
    expect(Math.abs(kept / dense - 0.5)).toBeLessThanOrEqual(0.005);
    expect(r.allocation).toMatch(
      /^measured sensitivity \(KL to the dense model on \d+ calibration sequences/,
    );
    expect(new Set(r.modules.map((m) => m.rank)).size).toBeGreaterThan(1);
    const config = JSON.parse(readFileSync(join(dir, 'allocated', 'config.json'), 'utf8'));
    expect(config.compression_config.allocation).toBe(r.allocation);
    // deterministic: the same run gives the same bytes
    await runCompress({ ...options, out: join(dir, 'allocated-again') });
    expect(readFileSync(join(dir, 'allocated-again', 'model.safetensors'))).toEqual(
      readFileSync(join(dir, 'allocated', 'model.safetensors')),
    );
    await expect(runCompress({ ...options, out: join(dir, 'x'), method: 'block-diag' })).rejects.toThrow(
      /--allocate sensitivity: --method one of/,
    );
    const { calibration: _c, ...noText } = options;
    await expect(runCompress({ ...noText, method: 'lowrank', out: join(dir, 'x') })).rejects.toThrow(
      /needs --calibration/,
    );
  });

  it('--compare on a Llama with a short context: both texts, windows of the whole context, greedy text', async () => {
    // a character-level tokenizer.json for the fixture's 64 ids (it ships none)
    const vocab: Record<string, number> = {};
    [..." abcdefghijklmnopqrstuvwxyz.,!?'ABCDEFGHIJKLMNOPQRSTUVWXYZ01"].forEach((c, i) => {
      vocab[c] = i + 3;
    });
    vocab['<unk>'] = 0;
    await cp(join(fixtures, 'tiny-llama'), join(dir, 'tiny-tok'), { recursive: true });
    await writeFile(
      join(dir, 'tiny-tok', 'tokenizer.json'),
      JSON.stringify({
        version: '1.0',
        added_tokens: [],
        normalizer: null,
        pre_tokenizer: null,
        post_processor: null,
        decoder: { type: 'Fuse' },
        model: { type: 'BPE', unk_token: '<unk>', vocab, merges: [] },
      }),
    );
    const r = await runCompress({
      ...compressOptions('compared'),
      model: join(dir, 'tiny-tok'),
      compare: true,
    });
    const c = r.comparison as NonNullable<typeof r.comparison>;
    expect(c.texts.map((t) => t.text)).toEqual([
      expect.stringMatching(/^in-domain: 63 tokens sampled from the dense model/),
      expect.stringMatching(/^moby-dick/),
    ]);
    // window = the whole context (64), stride 32: every token scored once
    expect(c.texts[1].protocol).toEqual({ window: 64, stride: 32, prefixToken: 1 });
    expect(c.texts.every((t) => t.klDivergence > 0 && t.top1Agreement >= 0 && t.top1Agreement <= 1)).toBe(
      true,
    );
    expect(typeof c.compressedContinuation).toBe('string');
    expect(c.decodeTokensPerSecond.dense).toBeGreaterThan(0);
    expect(c.decodeTokensPerSecond.compressed).toBeGreaterThan(0);
    expect(formatCompress(r)).toMatch(/against the dense model/);
  });

  it('bad requests are usage errors', async () => {
    await expect(runCompress({ ...compressOptions('x'), model: join(dir, 'nope') })).rejects.toThrow(
      UsageError,
    );
    await expect(runCompress({ ...compressOptions('x'), ratio: 0.001 })).rejects.toThrow(/cannot fit 0.001/);
    await expect(runCompress({ ...compressOptions('x'), targetModules: ['nothing'] })).rejects.toThrow(
      /module selection matches none of the 14/,
    );
    await expect(runCompress({ ...compressOptions('x'), model: join(dir, 'blast') })).rejects.toThrow(
      /already compressed/,
    );
  });
});

describe('blastkit inspect', () => {
  it('lists a safetensors file, a llama2.c checkpoint, and refuses a malformed file with its reason', async () => {
    const st = await runInspect(join(fixtures, 'tiny-llama', 'model.safetensors'));
    expect(st.kind).toBe('safetensors');
    expect(st.tensors.find((t) => t.name === 'lm_head.weight')).toEqual({
      name: 'lm_head.weight',
      dtype: 'F32',
      shape: [64, 32],
      parameters: 2048,
    });
    const bin = await runInspect(join(fixtures, 'tiny-llama-v0.bin'));
    expect(bin.model?.description).toMatch(/llama2\.c v0/);
    expect(bin.parameters).toBe(st.parameters);
    expect(bin.model?.linearFlopsPerToken).toBe(2 * bin.model!.linearParameters);
    await expect(runInspect(join(fixtures, 'llama-golden.json'))).rejects.toThrow(UsageError);
  });
});

describe('blastkit doctor', () => {
  it('lists every backend; cpu loads, one that cannot run here says why', async () => {
    const { runDoctor } = await import('../src/index.js');
    const r = await runDoctor();
    expect(r.backends.map((b) => b.name)).toEqual(['native', 'cpu', 'webgpu', 'tfjs', 'cuda']);
    expect(r.backends[1]).toMatchObject({ name: 'cpu', available: true });
    expect(r.auto.picked).toBe('native');
    const cuda = r.backends.find((b) => b.name === 'cuda');
    expect(cuda?.available).toBe(false);
    // the package loads; with no GPU and no driver here its probe says which step failed
    expect(cuda?.detail).toMatch(/--backend cuda: not available on this machine: cuda backend unavailable: /);
  });
});
