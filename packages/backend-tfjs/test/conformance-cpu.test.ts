import { describeBackendConformance } from '@blastkit/core/test';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { TfjsBackend } from '../src/index.js';

// One engine per test file: tfjs keeps one active engine per process (vitest runs each file in its own fork).
it('runs on the plain-JavaScript engine', async () => {
  const backend = await TfjsBackend.create({ engine: 'cpu' });
  expect(backend.engine).toBe('cpu');
  expect(tf.getBackend()).toBe('cpu');
  await backend.close();
});

describeBackendConformance({
  name: 'tfjs (cpu engine)',
  createBackend: () => TfjsBackend.create({ engine: 'cpu' }),
});
