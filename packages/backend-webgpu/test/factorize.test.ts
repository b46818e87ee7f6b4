import { CpuBackend, Rng, Tensor } from '@blastkit/core';
import { blastFast } from '@blastkit/factorize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebGpuBackend } from '../src/index.js';
import { TEST_ADAPTER } from './adapter.js';

// The factorizer runs on any Backend: its products and reductions on the GPU, its small solves (Cholesky, the
// truncated SVD of the warm start) as CPU hand-offs. On WebGPU it must follow the CPU backend's iterates.
describe('BLAST factorization on WebGPU (software adapter)', () => {
  let gpu: WebGpuBackend;
  beforeAll(async () => {
    gpu = await WebGpuBackend.create({ adapter: TEST_ADAPTER });
  });
  afterAll(async () => {
    await gpu?.close();
  });

  it('the fast solver gives the CPU backend’s error at every step (96×64, b = 4, r = 12)', async () => {
    const A = new Tensor([96, 64]);
    new Rng(3).fillNormal(A.data, 1);
    const options = { numBlocks: 4, rank: 12, steps: 8, seed: 1, tolerance: 0 };
    const onCpu = await blastFast(A, { ...options, backend: new CpuBackend() });
    const onGpu = await blastFast(A, { ...options, backend: gpu });
    expect(onGpu.steps).toBe(8);
    expect(onGpu.history).toHaveLength(onCpu.history.length);
    onCpu.history.forEach((h, i) => {
      expect(Math.abs(onGpu.history[i].relativeError - h.relativeError), `step ${h.step}`).toBeLessThan(1e-6);
    });
    // and it went somewhere: 8 steps lower the error from the low-rank start
    expect(onGpu.relativeError).toBeLessThan(onGpu.history[0].relativeError - 0.03);
  });
});
