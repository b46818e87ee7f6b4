import { describeBackendConformance } from '@blastkit/core/test';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { TfjsBackend } from '../src/index.js';

// One engine per test file: tfjs keeps one active engine per process (vitest runs each file in its own fork).
it('runs on the WebAssembly engine', async () => {
  const backend = await TfjsBackend.create({ engine: 'wasm' });
  expect(backend.engine).toBe('wasm');
  expect(tf.getBackend()).toBe('wasm');
  await backend.close();
});

describeBackendConformance({
  name: 'tfjs (wasm engine)',
  createBackend: () => TfjsBackend.create({ engine: 'wasm' }),
  kernelTolerance: {
    // tfjs-backend-wasm sums in float32, one running total; the reference sums in float64. On the suite's
    // 'sum all' case (1170 N(0,1) entries, Σ|x| ≈ 930) the total cancels to 0.59, and the default tolerance
    // is relative to that result: the float32 error measured, 1.5e-5, is 1.6e-8·Σ|x| — a few ulps of the
    // running total, not a wrong sum. The absolute part allows 1e-7·Σ|x| at that size.
    reduce: { absolute: 1e-4 },
  },
});
