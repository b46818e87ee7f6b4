import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { ensureGradients } from '../src/engine/gradients.js';
import type { StructuredKind } from '../src/layers.js';
import {
  ByteTokenizer,
  crossEntropy,
  patchify,
  ScratchGpt,
  ScratchVit,
  trainGpt,
} from '../src/scratch/index.js';

/**
 * The from-scratch models on the WebAssembly engine (what the bench runs when tfjs-node is absent) against the
 * JavaScript engine. This caught tfjs-backend-wasm 4.22's OneHot writing int32 bits into a float32 tensor.
 */
const KINDS: StructuredKind[] = ['dense', 'lowrank', 'monarch', 'blast'];

async function on<T>(engine: 'cpu' | 'wasm', f: () => T | Promise<T>): Promise<T> {
  await tf.setBackend(engine);
  ensureGradients();
  return f();
}

describe('from-scratch models on the wasm engine', () => {
  it('ViT losses agree with the JavaScript engine for every kind', async () => {
    const images = Uint8Array.from({ length: 4 * 196 }, (_, i) => (i * 37 + (i >> 5)) % 256);
    const x = patchify(images, 14, 7, [0, 1, 2, 3]);
    for (const kind of KINDS) {
      const loss = () => {
        const model = new ScratchVit({
          imageSize: 14,
          patchSize: 7,
          dim: 32,
          depth: 1,
          heads: 2,
          mlpRatio: 2,
          classes: 10,
          structure: kind === 'dense' ? { kind } : { kind, fraction: 0.5, blocks: 4 },
          seed: 5,
        });
        const v = tf.tidy(
          () =>
            crossEntropy(model.logits(tf.tensor2d(x, [16, 49])), Int32Array.from([1, 2, 3, 4])).dataSync()[0],
        );
        model.dispose();
        return v;
      };
      const cpu = await on('cpu', loss);
      const wasm = await on('wasm', loss);
      expect(Number.isFinite(wasm)).toBe(true);
      expect(wasm).toBeCloseTo(cpu, 4);
    }
  });

  it('GPT training steps agree with the JavaScript engine', async () => {
    const text = new ByteTokenizer().encode('It is not down in any map; true places never are. '.repeat(6));
    const run = async () => {
      const model = new ScratchGpt({
        vocab: 256,
        context: 16,
        dim: 32,
        depth: 1,
        heads: 2,
        mlpRatio: 2,
        structure: { kind: 'blast', fraction: 0.5, blocks: 4 },
        seed: 2,
      });
      const r = await trainGpt(model, text, { steps: 3, batchSize: 4, lr: 3e-3, warmupSteps: 1, seed: 1 });
      model.dispose();
      return r.losses;
    };
    const cpu = await on('cpu', run);
    const wasm = await on('wasm', run);
    expect(cpu[0]).toBeGreaterThan(Math.log(256) - 0.5);
    for (let i = 0; i < 3; i++) expect(wasm[i]).toBeCloseTo(cpu[i], 3);
  });
});
