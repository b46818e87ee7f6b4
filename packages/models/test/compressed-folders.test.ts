import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuBackend, cpuKernels, type StructuredMatrix, Tensor } from '@blastkit/core';
import { lowRankFactorize } from '@blastkit/factorize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compressLinears,
  DitModel,
  ditConfigFromJson,
  Gpt2Model,
  gpt2ConfigFromHf,
  openCompressedFolder,
  openDitFolder,
  openHfGpt2,
  openHfVit,
  saveCompressedFolder,
  type TensorSource,
  VitModel,
  vitConfigFromHf,
} from '../src/index.js';

// The compressed folder format is architecture-agnostic: each adapter reloads its own compressed models.
const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const be = new CpuBackend();
const json = (name: string) => JSON.parse(readFileSync(join(fixtures, name, 'config.json'), 'utf8'));
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-folders-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function reopen(name: string) {
  const opened = await openCompressedFolder(join(dir, name));
  expect(opened.compression?.method).toBe('test');
  expect(opened.source.names().some((n) => /\.(U|V|B|C|D)$/.test(n))).toBe(false); // factors are not weights
  return opened;
}

describe('compressed folders for every architecture', () => {
  it('GPT-2: replaced Conv1D modules save and reload to identical logits', async () => {
    const { config, source } = await openHfGpt2(join(fixtures, 'tiny-gpt2'));
    const ids = Int32Array.from([1, 5, 17, 42, 3]);
    const replacements = new Map<string, StructuredMatrix>();
    for (const m of ['transformer.h.0.mlp.c_fc', 'transformer.h.1.attn.c_attn']) {
      // Conv1D stores [in, out]: the structure approximates the linear [out, in]
      const w = await source.readTensor(`${m}.weight`);
      replacements.set(m, await lowRankFactorize(cpuKernels.transpose(w, [1, 0]), 6));
    }
    const run = async (s: TensorSource, r: Map<string, StructuredMatrix>, c = config) => {
      const model = await Gpt2Model.load(s, c, { backend: be, replacements: r });
      return (await be.download(model.forward(ids, model.newCache()))).data;
    };
    const before = await run(source, replacements);
    await saveCompressedFolder(join(dir, 'gpt2'), json('tiny-gpt2'), source, replacements, {
      method: 'test',
    });
    await source.close();
    const opened = await reopen('gpt2');
    expect(await run(opened.source, opened.replacements, gpt2ConfigFromHf(opened.json))).toEqual(before);
    await opened.source.close();
  });

  it('ViT: BLAST-compressed encoder linears save and reload to identical logits', async () => {
    const { config, source } = await openHfVit(join(fixtures, 'tiny-vit'));
    const pixels = new Tensor([1, 3, 16, 16]);
    for (let i = 0; i < pixels.size; i++) pixels.data[i] = Math.sin(i * 0.37);
    const { replacements } = await compressLinears(
      source,
      ['vit.encoder.layer.0.intermediate.dense', 'vit.encoder.layer.1.attention.attention.query'],
      { method: 'blast', ratio: 0.5, blocks: 4, steps: 5 },
    );
    const run = async (s: TensorSource, r: Map<string, StructuredMatrix>, c = config) =>
      (await be.download((await VitModel.load(s, c, { backend: be, replacements: r })).forward(pixels))).data;
    const before = await run(source, replacements);
    await saveCompressedFolder(join(dir, 'vit'), json('tiny-vit'), source, replacements, { method: 'test' });
    await source.close();
    const opened = await reopen('vit');
    expect(await run(opened.source, opened.replacements, vitConfigFromHf(opened.json))).toEqual(before);
    await opened.source.close();
  });

  it('DiT: low-rank adaLN and MLP layers save and reload to identical outputs', async () => {
    const { config, source } = await openDitFolder(join(fixtures, 'tiny-dit'));
    const x = new Tensor([1, 4, 8, 8]);
    for (let i = 0; i < x.size; i++) x.data[i] = Math.cos(i * 0.11);
    const { replacements } = await compressLinears(
      source,
      ['blocks.0.adaLN_modulation.1', 'blocks.1.mlp.fc1'],
      {
        method: 'lowrank',
        ratio: 0.4,
      },
    );
    const run = async (s: TensorSource, r: Map<string, StructuredMatrix>, c = config) => {
      const model = await DitModel.load(s, c, { backend: be, replacements: r });
      return (await model.forward(x, Float32Array.of(250), Int32Array.of(3))).data;
    };
    const before = await run(source, replacements);
    await saveCompressedFolder(join(dir, 'dit'), json('tiny-dit'), source, replacements, { method: 'test' });
    await source.close();
    const opened = await reopen('dit');
    expect(await run(opened.source, opened.replacements, ditConfigFromJson(opened.json))).toEqual(before);
    await opened.source.close();
  });
});
