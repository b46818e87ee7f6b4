import { describeBackendConformance } from '@blastkit/core/test';
import { expect, it } from 'vitest';
import { TfjsBackend } from '../src/index.js';

it('runs on the WebGPU engine', async () => {
  const backend = await TfjsBackend.create({ engine: 'webgpu' });
  expect(backend.engine).toBe('webgpu');
  console.info(backend.describe().engine);
  await backend.close();
});

describeBackendConformance({
  name: 'tfjs (webgpu engine)',
  createBackend: () => TfjsBackend.create({ engine: 'webgpu' }),
});
