import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CpuBackend, Tensor } from '@blastkit/core';
import { seededImages, seededNoiseInputs } from '@blastkit/eval';
import {
  DitModel,
  ditConfigFromJson,
  Gpt2Model,
  generate,
  gpt2ConfigFromHf,
  HfTokenizer,
  openCompressedFolder,
  VitModel,
  vitConfigFromHf,
} from '@blastkit/models';
import { writeSafetensors } from '@blastkit/safetensors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildProgram,
  InterruptedError,
  runCompress,
  runEval,
  runExport,
  runGenerate,
  runInspect,
  UsageError,
} from '../src/index.js';
import { cliBin as bin, modelFixtures as fixtures } from './cli-harness.js';

// GPT-2, ViT and DiT through the model commands, on the small golden models of @blastkit/models.
const be = new CpuBackend();
let dir: string;
const at = (...p: string[]) => join(dir, ...p);

/** A character-level tokenizer.json for tiny-gpt2's 64 ids (the fixture has no tokenizer). */
function charTokenizer() {
  const chars = " abcdefghijklmnopqrstuvwxyz.,!?'ABCDEFGHIJKLMNOPQRSTUVWXYZ01";
  const vocab: Record<string, number> = {};
  [...chars].forEach((c, i) => {
    vocab[c] = i;
  });
  vocab['<unk>'] = 63;
  return {
    version: '1.0',
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: 'Fuse' },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: [],
    },
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-cli-arch-'));
  for (const m of ['tiny-gpt2', 'tiny-vit', 'tiny-dit'])
    await cp(join(fixtures, m), at(m), { recursive: true });
  await cp(join(fixtures, 'tiny-gpt2'), at('gpt2-notok'), { recursive: true });
  await writeFile(at('tiny-gpt2', 'tokenizer.json'), JSON.stringify(charTokenizer()));
  await writeFile(
    at('story.txt'),
    'once upon a time there was a little dog. the dog liked to run in the park with his friends. '.repeat(4),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

describe('inspect', () => {
  it('reads GPT-2, ViT and DiT folders: architecture, block linears, parameters and FLOPs', async () => {
    const expected = {
      'tiny-gpt2': {
        architecture: 'gpt2',
        linears: 8,
        parameters: 2 * (3 * 32 * 32 + 32 * 32 + 2 * 4 * 32 * 32),
      },
      'tiny-vit': { architecture: 'vit', linears: 12, parameters: 2 * (4 * 32 * 32 + 2 * 64 * 32) },
      'tiny-dit': {
        architecture: 'dit',
        linears: 10,
        parameters: 2 * (3 * 32 * 32 + 32 * 32 + 2 * 64 * 32 + 6 * 32 * 32),
      },
    } as const;
    for (const [name, want] of Object.entries(expected)) {
      const r = await runInspect(at(name));
      expect(r.kind).toBe('model');
      expect(r.model).toMatchObject({ architecture: want.architecture, linears: want.linears });
      expect(r.model?.linearParameters).toBe(want.parameters);
      expect(r.model?.linearFlopsPerToken).toBe(2 * want.parameters);
      expect(r.model?.summary).toMatch(new RegExp(`^${want.architecture}: `));
      // a bare .safetensors is still listed as a file
      expect((await runInspect(at(name, 'model.safetensors'))).kind).toBe('safetensors');
    }
  });

  it('--dry-run plans every block linear at the ratio, with [out, in] shapes (GPT-2 Conv1D transposed)', async () => {
    const gpt2 = await runInspect(at('tiny-gpt2'), { method: 'lowrank', ratio: 0.5 });
    expect(gpt2.plan?.layers.map((l) => l.name)).toEqual(
      [0, 1].flatMap((l) =>
        ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'].map((s) => `transformer.h.${l}.${s}`),
      ),
    );
    expect(gpt2.plan?.layers[0]).toMatchObject({ shape: [96, 32], rank: 12 });
    expect(gpt2.plan?.layers[2]).toMatchObject({ shape: [128, 32], rank: 12 });
    const vit = await runInspect(at('tiny-vit'), {
      method: 'lowrank',
      ratio: 0.5,
      targetModules: ['intermediate.dense'],
      layers: [1],
    });
    expect(vit.plan?.layers.map((l) => [l.name, l.shape])).toEqual([
      ['vit.encoder.layer.1.intermediate.dense', [64, 32]],
    ]);
    const dit = await runInspect(at('tiny-dit', 'model.safetensors'), {
      method: 'blast',
      ratio: 0.5,
      blocks: 4,
    });
    expect(dit.plan?.layers).toHaveLength(10);
    expect(dit.plan?.totals.ratio).toBeLessThanOrEqual(0.5);
  });
});

describe('compress, export --dense and reload', () => {
  it('GPT-2: a compressed folder and its dense export give the same logits; ROM biases are folded', async () => {
    const r = await runCompress({
      model: at('tiny-gpt2'),
      method: 'lowrank',
      ratio: 0.5,
      seed: 1,
      out: at('gpt2-lr'),
    });
    expect(r.architecture).toBe('gpt2');
    expect(r.modules).toHaveLength(8);
    expect(r.modules[0]).toMatchObject({ name: 'transformer.h.0.attn.c_attn', shape: [96, 32], rank: 12 });
    expect(r.linearParameters.ratio).toBeLessThanOrEqual(0.5);
    expect(json(at('gpt2-lr', 'config.json')).compression_config).toMatchObject({
      method: 'lowrank',
      ratio: 0.5,
    });
    // the tokenizer beside the model travels with it
    expect(readFileSync(at('gpt2-lr', 'tokenizer.json'), 'utf8')).toBe(
      readFileSync(at('tiny-gpt2', 'tokenizer.json'), 'utf8'),
    );

    const ids = Int32Array.from([1, 5, 17, 42, 3, 9]);
    const logits = async (folder: string) => {
      const o = await openCompressedFolder(folder);
      const m = await Gpt2Model.load(o.source, gpt2ConfigFromHf(o.json), {
        backend: be,
        replacements: o.replacements,
      });
      const out = (await be.download(m.forward(ids, m.newCache()))).data;
      await o.source.close();
      return out;
    };
    const compressed = await logits(at('gpt2-lr'));
    const e = await runExport({ dir: at('gpt2-lr'), dense: true, out: at('gpt2-dense') });
    expect(e).toMatchObject({ architecture: 'gpt2', format: 'dense', modules: 8 });
    expect(json(at('gpt2-dense', 'config.json')).compression_config).toBeUndefined();
    const exported = await logits(at('gpt2-dense'));
    const original = await logits(at('tiny-gpt2'));
    for (let i = 0; i < compressed.length; i++) expect(exported[i]).toBeCloseTo(compressed[i], 4);
    expect(Math.max(...compressed.map((v, i) => Math.abs(v - original[i])))).toBeGreaterThan(1e-3);
    await expect(runExport({ dir: at('gpt2-lr'), reference: true, out: at('x') })).rejects.toThrow(
      /Llama models only/,
    );

    const rom = await runCompress({
      model: at('tiny-gpt2'),
      method: 'rom',
      ratio: 0.5,
      calibration: 'random',
      calibrationTokens: 96,
      targetModules: ['mlp.c_fc'],
      out: at('gpt2-rom'),
    });
    expect(rom.modules.map((m) => m.name)).toEqual(['transformer.h.0.mlp.c_fc', 'transformer.h.1.mlp.c_fc']);
    const cc = json(at('gpt2-rom', 'config.json')).compression_config;
    expect(cc.calibration).toMatch(/^random: 96 token ids/);
    expect(cc.output_biases).toMatch(/added to each layer's bias/);
    const folder = await openCompressedFolder(at('gpt2-rom'));
    const orig = await openCompressedFolder(at('tiny-gpt2'));
    const name = 'transformer.h.0.mlp.c_fc.bias';
    expect((await folder.source.readTensor(name)).data).not.toEqual(
      (await orig.source.readTensor(name)).data,
    );
    await folder.source.close();
    await orig.source.close();
  });

  it('ViT and DiT: compress (BLAST, low-rank), export --dense, and the exports reload to the same outputs', async () => {
    const vit = await runCompress({
      model: at('tiny-vit'),
      method: 'blast',
      ratio: 0.5,
      blocks: 4,
      steps: 10,
      out: at('vit-blast'),
    });
    expect(vit.modules).toHaveLength(12);
    expect(vit.modules.every((m) => m.kind === 'blast' && m.blocks === 4)).toBe(true);
    const vitConfig = vitConfigFromHf(json(at('tiny-vit', 'config.json')));
    const pixels = seededImages(vitConfig, 2, 1);
    const vitOut = async (folder: string) => {
      const o = await openCompressedFolder(folder);
      const m = await VitModel.load(o.source, vitConfig, { backend: be, replacements: o.replacements });
      const out = (await be.download(m.forward(pixels))).data;
      await o.source.close();
      return out;
    };
    await runExport({ dir: at('vit-blast'), dense: true, out: at('vit-dense') });
    const [a, b] = [await vitOut(at('vit-blast')), await vitOut(at('vit-dense'))];
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i], 4);

    await runCompress({ model: at('tiny-dit'), method: 'lowrank', ratio: 0.4, out: at('dit-lr') });
    const ditConfig = ditConfigFromJson(json(at('tiny-dit', 'config.json')));
    const x = seededImages({ numChannels: 4, imageSize: 8 }, 1, 2);
    const ditOut = async (folder: string) => {
      const o = await openCompressedFolder(folder);
      const m = await DitModel.load(o.source, ditConfig, { backend: be, replacements: o.replacements });
      const out = (await m.forward(x, Float32Array.of(300), Int32Array.of(2))).data;
      await o.source.close();
      return out;
    };
    await runExport({ dir: at('dit-lr'), dense: true, out: at('dit-dense') });
    const [c, d] = [await ditOut(at('dit-lr')), await ditOut(at('dit-dense'))];
    for (let i = 0; i < c.length; i++) expect(d[i]).toBeCloseTo(c[i], 4);
    // a DiT state dict stays a DiT state dict: the dense export has exactly the original tensor names
    const names = async (f: string) => {
      const o = await openCompressedFolder(f);
      const n = o.source.names().sort();
      await o.source.close();
      return n;
    };
    expect(await names(at('dit-dense'))).toEqual(await names(at('tiny-dit')));

    // --compare on a ViT: what eval --reference reports, on the model just compressed (nothing reloaded)
    const compared = await runCompress({
      model: at('tiny-vit'),
      method: 'rom',
      ratio: 0.5,
      calibration: 'random',
      targetModules: ['intermediate.dense'],
      compare: true,
      out: at('vit-rom'),
    });
    const ev = compared.evaluation as NonNullable<typeof compared.evaluation>;
    expect(ev.records.map((x) => x.metric)).toEqual(['classification', 'layer-output-error']);
    expect(ev.records[0]).toMatchObject({ method: 'rom', budget: { ratio: 0.5 } });
    expect(ev.layers?.layers.map((l) => l.module)).toEqual([
      'vit.encoder.layer.0.intermediate.dense',
      'vit.encoder.layer.1.intermediate.dense',
    ]);
    // the same comparison from the saved folder (ROM's bias now inside the layer's own) gives the same numbers
    const again = await runEval({ model: at('vit-rom'), reference: at('tiny-vit') });
    expect(again.records[0].result).toEqual(ev.records[0].result);
    for (const [i, l] of (again.layers?.layers ?? []).entries())
      expect(l.relativeError).toBeCloseTo(ev.layers?.layers[i].relativeError as number, 5);

    await expect(
      runCompress({
        model: at('tiny-vit'),
        method: 'rom',
        ratio: 0.5,
        calibration: 'moby-dick',
        out: at('x'),
      }),
    ).rejects.toThrow(/only 'random'/);
    await expect(
      runCompress({ model: at('tiny-vit'), method: 'rom', ratio: 0.5, out: at('x') }),
    ).rejects.toThrow(/needs --calibration \('random'/);
  });
});

describe('eval', () => {
  it('GPT-2: perplexity with a tokenizer; against the dense model: KL, agreement and per-layer errors as records', async () => {
    const alone = await runEval({
      model: at('tiny-gpt2'),
      text: at('story.txt'),
      maxTokens: 120,
      window: 32,
    });
    expect(alone.architecture).toBe('gpt2');
    // GPT-2's windows start with its BOS (<|endoftext|>, here id 0)
    expect(alone.protocol).toEqual({ window: 32, stride: 16, prefixToken: 0 });
    expect(alone.perplexity?.tokens).toBe(120);
    expect(alone.records).toHaveLength(1);
    expect(alone.records[0]).toMatchObject({
      metric: 'perplexity',
      method: null,
      backend: 'native', // --backend auto, where the native addon loads (it does here)
      protocol: { window: 32, text: expect.stringMatching(/story\.txt: first 120 tokens/) },
    });
    expect(alone.notes).toEqual(['per-layer output error: needs --reference']);

    const cmp = await runEval({
      model: at('gpt2-lr'),
      reference: at('tiny-gpt2'),
      text: at('story.txt'),
      maxTokens: 120,
      window: 32,
      layerInputs: 64,
    });
    expect(cmp.comparison?.klDivergence).toBeGreaterThan(0);
    expect(cmp.records.map((r) => r.metric)).toEqual(['comparison', 'layer-output-error']);
    const layers = cmp.layers as NonNullable<typeof cmp.layers>;
    expect(layers.layers).toHaveLength(8);
    // 64 tokens in sequences of at most 64 (the context), each after the prefix: 64 + 1 and 1 + 1 rows
    expect(layers.layers.every((l) => l.rows === 66 && l.kind === 'low-rank')).toBe(true);
    expect(layers.layers.every((l) => l.relativeError > 0 && l.relativeError < 1)).toBe(true);
    for (const rec of cmp.records)
      expect(rec).toMatchObject({
        model: expect.stringContaining('gpt2-lr'),
        reference: expect.stringContaining('tiny-gpt2'),
        method: 'lowrank',
        budget: { ratio: 0.5, denseParameters: 24576 },
        backend: 'native',
      });
    expect(JSON.parse(JSON.stringify(cmp.records))).toEqual(cmp.records);

    // no tokenizer: the comparison runs on seeded random tokens, and says so
    const noTok = await runEval({
      model: at('gpt2-notok'),
      reference: at('gpt2-notok'),
      maxTokens: 40,
      window: 16,
    });
    expect(noTok.comparison?.klDivergence).toBe(0);
    expect(noTok.text?.source).toMatch(
      /^seeded: 40 token ids uniform over the vocabulary, Rng\(0\) \(no tokenizer\)/,
    );
    await expect(runEval({ model: at('gpt2-notok') })).rejects.toThrow(/no tokenizer beside/);
  });

  it('GPT-2 ROM folder: the folded bias is recovered as the compression bias of the per-layer error', async () => {
    const r = await runEval({
      model: at('gpt2-rom'),
      reference: at('tiny-gpt2'),
      maxTokens: 64,
      window: 32,
      text: at('story.txt'),
    });
    const l = r.layers?.layers ?? [];
    expect(l.map((x) => x.module)).toEqual(['transformer.h.0.mlp.c_fc', 'transformer.h.1.mlp.c_fc']);
    expect(l.every((x) => x.relativeError > 0 && x.relativeError < 1)).toBe(true);
  });

  it('ViT: agreement on seeded images (said in the protocol), accuracy on a labelled file, per-layer errors', async () => {
    const r = await runEval({ model: at('vit-blast'), reference: at('tiny-vit'), samples: 12, seed: 3 });
    const cls = r.records.find((x) => x.metric === 'classification');
    expect(cls?.protocol).toMatchObject({
      images: 12,
      seed: 3,
      labelled: false,
      source: expect.stringMatching(/^seeded: N\(0, 1\) pixels, Rng\(3\) \(no data given\)/),
    });
    // the agreement equals the argmaxes of both models on the same seeded images, computed here directly
    const config = vitConfigFromHf(json(at('tiny-vit', 'config.json')));
    const images = seededImages(config, 12, 3);
    const argmax = async (folder: string) => {
      const o = await openCompressedFolder(folder);
      const m = await VitModel.load(o.source, config, { backend: be, replacements: o.replacements });
      const logits = (await be.download(m.forward(images))).data;
      await o.source.close();
      return Array.from({ length: 12 }, (_, i) => {
        const row = Array.from(logits.subarray(i * 10, i * 10 + 10));
        return row.indexOf(Math.max(...row));
      });
    };
    const [p, q] = [await argmax(at('tiny-vit')), await argmax(at('vit-blast'))];
    const agree = p.filter((v, i) => v === q[i]).length / 12;
    expect((cls as { result: { agreement: { top1: number } } }).result.agreement.top1).toBe(agree);
    expect(r.layers?.layers).toHaveLength(12);
    expect(r.layers?.protocol.inputs).toMatch(/^the first 2 of the classification images/);

    // labelled images from a file: accuracies of both models
    const labels = Tensor.zeros([12]);
    p.forEach((v, i) => {
      labels.data[i] = i % 3 === 0 ? (v + 1) % 10 : v;
    });
    await writeSafetensors(at('images.safetensors'), { pixel_values: images, labels });
    const lab = await runEval({
      model: at('vit-blast'),
      reference: at('tiny-vit'),
      images: at('images.safetensors'),
    });
    const res = lab.records[0].result as { reference: { top1: number }; candidate: { top1: number } };
    expect(res.reference.top1).toBeCloseTo(8 / 12, 12);
    expect(lab.records[0].protocol).toMatchObject({ labelled: true, seed: null });
    const alone = await runEval({ model: at('tiny-vit'), images: at('images.safetensors') });
    expect(alone.records.map((x) => x.metric)).toEqual(['classification']);
    await expect(runEval({ model: at('tiny-vit') })).rejects.toThrow(/nothing to measure/);
    await writeSafetensors(at('bad.safetensors'), { pixel_values: Tensor.zeros([1, 3, 8, 8]) });
    await expect(runEval({ model: at('tiny-vit'), images: at('bad.safetensors') })).rejects.toThrow(
      /pixel_values has shape \[1,3,8,8\], expected \[N, 3, 16, 16\]/,
    );
  });

  it('DiT: noise-prediction error and sample agreement on seeded latents; the dense model against itself agrees', async () => {
    const r = await runEval({
      model: at('dit-lr'),
      reference: at('tiny-dit'),
      samples: 6,
      sampleSteps: 5,
      sampleImages: 2,
      seed: 4,
    });
    expect(r.records.map((x) => x.metric)).toEqual([
      'noise-prediction',
      'sample-agreement',
      'layer-output-error',
    ]);
    const [noise, samples] = r.records;
    expect(noise.protocol).toMatchObject({
      samples: 6,
      seed: 4,
      source: expect.stringMatching(/^seeded: x₀ and ε ~ N\(0, 1\)/),
    });
    expect((noise.result as { epsilon: { relativeError: number } }).epsilon.relativeError).toBeGreaterThan(0);
    expect(samples.protocol).toMatchObject({ sampler: 'ddim', steps: 5, seed: 4, noise: 'seeded' });
    expect((samples.result as { psnr: number }).psnr).toBeGreaterThan(0);
    expect(r.layers?.layers).toHaveLength(10);
    // the seeded latents are the eval package's: the DiT adapter's inputs, drawn the same way
    expect(
      seededNoiseInputs(ditConfigFromJson(json(at('tiny-dit', 'config.json'))), 6, 4).timesteps.length,
    ).toBe(6);

    const self = await runEval({
      model: at('tiny-dit'),
      reference: at('tiny-dit'),
      samples: 2,
      sampleSteps: 3,
      sampleImages: 1,
    });
    expect((self.records[0].result as { epsilon: { relativeError: number } }).epsilon.relativeError).toBe(0);
    expect((self.records[1].result as { psnr: number | null }).psnr).toBeNull();
    expect(self.notes).toEqual(['per-layer output error: the model has no compressed linears']);
    await expect(runEval({ model: at('dit-lr') })).rejects.toThrow(/a DiT is evaluated against --reference/);
    // another architecture's options are refused rather than ignored
    await expect(
      runEval({ model: at('tiny-vit'), reference: at('tiny-vit'), sampleSteps: 3 }),
    ).rejects.toThrow(/--sampler, --sample-steps, --sample-images, --cfg-scale: for DiT models; .* is vit/);
    await expect(
      runEval({ model: at('dit-lr'), reference: at('tiny-dit'), text: 'moby-dick' }),
    ).rejects.toThrow(/--text: for Llama, .*GPT-2 models/); // every registered decoder
    await expect(runEval({ model: at('dit-lr'), reference: at('tiny-vit') })).rejects.toThrow(
      /is a dit model, the reference/,
    );
  });
});

describe('generate', () => {
  it('GPT-2 continues a prompt (greedy tokens as the models package gives them); ViT and DiT are refused', async () => {
    const r = await runGenerate({ model: at('tiny-gpt2'), prompt: 'once upon a', maxTokens: 12 });
    const tokenizer = await HfTokenizer.load(at('tiny-gpt2', 'tokenizer.json'));
    const o = await openCompressedFolder(at('tiny-gpt2'));
    const model = await Gpt2Model.load(o.source, gpt2ConfigFromHf(o.json), { backend: be });
    const prompt = tokenizer.encode('once upon a');
    expect(r.promptTokens).toBe(prompt.length);
    expect(r.tokens).toEqual(await generate(model, prompt, { maxTokens: 12 }));
    expect(r.text).toBe(tokenizer.decode([...prompt, ...r.tokens]).slice('once upon a'.length));
    await o.source.close();
    await expect(runGenerate({ model: at('tiny-vit'), prompt: 'x' })).rejects.toThrow(
      /decoder language model \(Llama, .*GPT-2\); .* is a vit model/,
    );
    await expect(runGenerate({ model: at('gpt2-notok'), prompt: 'x' })).rejects.toThrow(UsageError);
  });
});

describe('the command line', () => {
  it('Ctrl-C during eval stops it with InterruptedError (exit 130)', async () => {
    const controller = new AbortController();
    const phases: string[] = [];
    await expect(
      runEval({
        model: at('dit-lr'),
        reference: at('tiny-dit'),
        samples: 4,
        sampleSteps: 3,
        signal: controller.signal,
        onProgress: (phase) => {
          phases.push(phase);
          if (phase === 'samples') controller.abort(new Error('interrupted'));
        },
      }),
    ).rejects.toThrow(InterruptedError);
    expect(phases).toEqual(['noise-prediction', 'samples']);
  });

  it('eval --json prints one JSON object; bad input exits 2 with the reason; --help exits 0', async () => {
    let out = '';
    await buildProgram({ out: (s) => (out += s), err: () => {} }).parseAsync([
      'node',
      'blastkit',
      'eval',
      at('dit-lr'),
      '--reference',
      at('tiny-dit'),
      '--samples',
      '2',
      '--sample-steps',
      '2',
      '--sample-images',
      '1',
      '--json',
    ]);
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]).records).toHaveLength(3);

    const run = promisify(execFile);
    const failed = await run(process.execPath, [bin, 'eval', at('dit-lr')]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((failed as { code: number }).code).toBe(2);
    expect((failed as { stderr: string }).stderr).toMatch(/a DiT is evaluated against --reference/);
    const help = await run(process.execPath, [bin, 'eval', '--help']);
    expect(help.stdout).toMatch(/--sample-steps/);
    const progress = await run(process.execPath, [
      bin,
      'eval',
      at('vit-blast'),
      '--reference',
      at('tiny-vit'),
      '--samples',
      '4',
    ]);
    expect(progress.stdout).toMatch(/agreement {6}top-1/);
    expect(progress.stderr).toMatch(/eval classification: 4\/4/);
  });
});
