import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuBackend } from '@blastkit/core';
import { Gpt2Model, ModelFormatError, openHfGpt2, openHfVit } from '@blastkit/models';
import { afterAll, describe, expect, it } from 'vitest';
import { exportGpt2Onnx, exportVitOnnx, OnnxCausalLm, readOnnxFolder } from '../src/index.js';

const fixtures = join(import.meta.dirname, '../../models/fixtures');
const work = mkdtempSync(join(tmpdir(), 'blastkit-onnx-folder-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const IDS = [0, 5, 9, 3, 17, 40, 22, 8, 8, 61];

describe('readOnnxFolder and OnnxCausalLm on an exported folder', () => {
  it('reads the architecture, the dtype written and the decoder traits; fromFolder opens that graph', async () => {
    const opened = await openHfGpt2(join(fixtures, 'tiny-gpt2'));
    const out = join(work, 'gpt2-fp16');
    await exportGpt2Onnx(out, opened, { dtype: 'fp16' });
    const info = await readOnnxFolder(out);
    expect(info).toMatchObject({ dtype: 'fp16', file: 'model_fp16.onnx' });
    expect(info.entry.name).toBe('gpt2');
    expect(info.decoder).toMatchObject({ promptBos: false, context: opened.config.nPositions });
    expect(info.decoder?.vocabSize).toBe(opened.config.vocabSize);
    // no model.onnx in the folder: the declared dtype's graph is the one opened
    const lm = await OnnxCausalLm.fromFolder(out);
    expect(lm.cacheType).toBe('float16');
    await lm.release();
    await opened.source.close();

    const vit = await openHfVit(join(fixtures, 'tiny-vit'));
    await exportVitOnnx(join(work, 'vit'), vit);
    await vit.source.close();
    const vitInfo = await readOnnxFolder(join(work, 'vit'));
    expect(vitInfo.entry.name).toBe('vit');
    expect(vitInfo.decoder).toBeUndefined();
    await expect(readOnnxFolder(join(fixtures, 'tiny-gpt2'))).rejects.toThrow(ModelFormatError);
    await expect(readOnnxFolder(join(work, 'nothing-here'))).rejects.toThrow(/cannot read/);
  });

  it('windowNll is the log-softmax of the CPU backend’s logits at the scored positions', async () => {
    const opened = await openHfGpt2(join(fixtures, 'tiny-gpt2'));
    const out = join(work, 'gpt2');
    await exportGpt2Onnx(out, opened);
    const be = new CpuBackend();
    const model = await Gpt2Model.load(opened.source, opened.config, { backend: be });
    await opened.source.close();
    const logits = (await be.download(model.forward(Int32Array.from(IDS), model.newCache()))).data;
    model.dispose();
    const V = opened.config.vocabSize;
    let expected = 0;
    for (let t = 3; t < IDS.length - 1; t++) {
      const row = Array.from(logits.subarray(t * V, (t + 1) * V));
      const max = Math.max(...row);
      expected += max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0)) - row[IDS[t + 1]];
    }
    const lm = await OnnxCausalLm.fromFolder(out);
    const got = await lm.windowNll(IDS, 3);
    await lm.release();
    expect(got.count).toBe(IDS.length - 1 - 3);
    expect(Math.abs(got.nll - expected) / expected).toBeLessThan(1e-5);
  });
});
