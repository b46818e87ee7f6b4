import { expect, it } from 'vitest';
import { CudaBackend } from '../src/index.js';
import { churn } from './support/every-operation.js';

// (d) Device memory over thousands of calls on a real device: after every handle is disposed, the addon's
// count of live buffers and bytes is back where it started (scratch aside, which is reused by design).
const probe = CudaBackend.probe();

if (probe.available) {
  it('frees every buffer it allocates: live buffers and bytes back to baseline after thousands of calls', async () => {
    const be = await CudaBackend.create();
    try {
      churn(be, 2); // warm-up: scratch buffers reach their size
      const before = be.memory;
      const calls = churn(be, 60);
      const after = be.memory;
      expect(calls).toBeGreaterThan(2000);
      // freed tensors parked in the pool for reuse are still allocated: count them apart
      expect(after.buffers - after.pooledBuffers).toBe(before.buffers - before.pooledBuffers);
      expect(after.bytes - after.pooledBytes).toBe(before.bytes - before.pooledBytes);
      // and the pool is bounded by reuse: the steady state allocates nothing new
      expect(after.mallocs).toBe(before.mallocs);
      expect(after.scratchBytes).toBe(before.scratchBytes);
      expect(after.mallocs - before.mallocs).toBe(after.frees - before.frees);
    } finally {
      await be.close();
    }
  }, 300_000);
} else if (process.env.BLASTKIT_REQUIRE_CUDA) {
  it('finds a usable CUDA device (BLASTKIT_REQUIRE_CUDA is set)', () => {
    throw new Error(probe.reason);
  });
} else {
  it.skip(`cuda leak test needs a CUDA GPU (here: ${probe.reason})`, () => {});
}
