import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BlastMatrix,
  BlockDiagonalMatrix,
  CpuBackend,
  DenseMatrix,
  LowRankMatrix,
  MonarchMatrix,
  Rng,
  type StructuredMatrix,
  Tensor,
} from '@blastkit/core';
import { openHfVit, VitModel, vitLinearShapes } from '@blastkit/models';
import { afterAll, describe, expect, it } from 'vitest';
import { exportVitOnnx, loadOnnxRuntime } from '../src/index.js';
import { relError, roundTrip } from './helpers.js';

const fixture = join(import.meta.dirname, '../../models/fixtures/tiny-vit');
const work = mkdtempSync(join(tmpdir(), 'blastkit-onnx-vit-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Three normalized 16×16 RGB images (values as an image processor leaves them, about [−1, 1]). */
function images(): Tensor {
  const t = new Tensor([3, 3, 16, 16]);
  new Rng(11).fillNormal(t.data, 0.6);
  return t;
}

/**
 * Exports the tiny ViT with `replacements` and checks onnxruntime-node's class scores on a batch of three
 * images against our CPU backend's (1e-4 relative).
 */
async function check(name: string, replacements: Map<string, StructuredMatrix>) {
  const opened = await openHfVit(fixture);
  const out = join(work, name);
  const result = await exportVitOnnx(out, { ...opened, replacements });
  expect(result.structured).toBe(replacements.size);
  const be = new CpuBackend();
  const model = await VitModel.load(opened.source, opened.config, { backend: be, replacements });
  await opened.source.close();
  const pixels = images();
  const reference = (await be.download(model.forward(pixels))).data;
  model.dispose();
  const ort = await loadOnnxRuntime();
  const session = await ort.InferenceSession.create(join(out, result.model));
  expect(session.inputNames).toEqual(['pixel_values']);
  expect(session.outputNames).toEqual(['logits']);
  const { logits } = await session.run({
    pixel_values: new ort.Tensor('float32', pixels.data, pixels.shape),
  });
  await session.release();
  expect(logits.dims).toEqual([3, 10]);
  const scores = logits.data as Float32Array;
  expect(relError(scores, reference)).toBeLessThan(1e-4);
  return out;
}

describe('ViT exported to ONNX (tiny fixture), run by onnxruntime-node', () => {
  it('dense: class scores of a batch within 1e-4 of the CPU backend', async () => {
    const out = await check('dense', new Map());
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ model_type: 'vit', image_size: 16, patch_size: 4, num_labels: 10 });
    expect(config.id2label['3']).toBe('LABEL_3');
    const pre = JSON.parse(readFileSync(join(out, 'preprocessor_config.json'), 'utf8'));
    expect(pre.size).toEqual({ height: 16, width: 16 });
  });

  it('structured patch embedding, encoder linears and classifier match the CPU backend', async () => {
    const rng = new Rng(5);
    const gaussian = (shape: number[], std: number) => {
      const t = new Tensor(shape);
      rng.fillNormal(t.data, std);
      return t;
    };
    // [out, in]: the patch projection is [32, 3·4·4], the classifier [10, 32]
    const r = new Map<string, StructuredMatrix>([
      ['vit.embeddings.patch_embeddings.projection', BlastMatrix.random(32, 48, 4, 6, rng, 0.3)],
      [
        'vit.encoder.layer.0.attention.attention.query',
        new LowRankMatrix(gaussian([32, 6], 0.3), gaussian([32, 6], 0.3)),
      ],
      [
        'vit.encoder.layer.0.intermediate.dense',
        new MonarchMatrix(gaussian([4, 16, 8], 0.3), gaussian([4, 8, 8], 0.3)),
      ],
      ['vit.encoder.layer.1.output.dense', new BlockDiagonalMatrix(gaussian([4, 8, 16], 0.3))],
      ['classifier', BlastMatrix.random(10, 32, 2, 4, rng, 0.3)],
    ]);
    await check('structured', r);
  });
});

describe('ViT q8 and q4 exports', () => {
  it('are smaller and compute exactly the model with its weights rounded as stored', async () => {
    const ort = await loadOnnxRuntime();
    const pixels = images();
    const fp32 = await exportVitOnnx(join(work, 'f32'), await openHfVit(fixture));
    for (const dtype of ['q8', 'q4'] as const) {
      const opened = await openHfVit(fixture);
      const r = await exportVitOnnx(join(work, dtype), opened, { dtype });
      expect(r.bytes).toBeLessThan(fp32.bytes);
      // the reference: our CPU backend with every linear (all of them are 2-D) rounded as the file stores it
      const rounded = new Map<string, StructuredMatrix>();
      for (const [module, shape] of vitLinearShapes(opened.config))
        rounded.set(
          module,
          new DenseMatrix(
            roundTrip((await opened.source.readTensor(`${module}.weight`)).reshape(shape), dtype),
          ),
        );
      const be = new CpuBackend();
      const model = await VitModel.load(opened.source, opened.config, { backend: be, replacements: rounded });
      await opened.source.close();
      const reference = (await be.download(model.forward(pixels))).data;
      model.dispose();
      const session = await ort.InferenceSession.create(join(r.out, r.model));
      const { logits } = await session.run({
        pixel_values: new ort.Tensor('float32', pixels.data, pixels.shape),
      });
      await session.release();
      expect(relError(logits.data as Float32Array, reference)).toBeLessThan(1e-4);
    }
  });
});

describe('ViT fp16 export', () => {
  it('float16 weights and activations, float32 pixels in and scores out; within float16 rounding', async () => {
    const opened = await openHfVit(fixture);
    const rng = new Rng(5);
    const r = new Map<string, StructuredMatrix>([
      ['vit.encoder.layer.0.intermediate.dense', BlastMatrix.random(64, 32, 4, 6, rng, 0.3)],
    ]);
    const fp32 = await exportVitOnnx(join(work, 'fp16-ref'), { ...opened, replacements: r });
    const half = await exportVitOnnx(join(work, 'fp16'), { ...opened, replacements: r }, { dtype: 'fp16' });
    expect(half.model).toBe('onnx/model_fp16.onnx');
    expect(half.bytes).toBeLessThan(0.6 * fp32.bytes);
    const be = new CpuBackend();
    const model = await VitModel.load(opened.source, opened.config, { backend: be, replacements: r });
    await opened.source.close();
    const pixels = images();
    const reference = (await be.download(model.forward(pixels))).data;
    model.dispose();
    const ort = await loadOnnxRuntime();
    const session = await ort.InferenceSession.create(join(half.out, half.model));
    // transformers.js feeds its image processor's float32 pixels as they are and reads float32 scores
    const { logits } = await session.run({
      pixel_values: new ort.Tensor('float32', pixels.data, pixels.shape),
    });
    await session.release();
    expect(logits.type).toBe('float32');
    expect(logits.dims).toEqual([3, 10]);
    expect(relError(logits.data as Float32Array, reference)).toBeLessThan(5e-3);
  });
});
