import { describeBackendConformance } from '@blastkit/core/test';
import { expect, it } from 'vitest';
import { WebGpuBackend } from '../src/index.js';
import { EXPECTED_ADAPTER, TEST_ADAPTER } from './adapter.js';

// CI machines have no GPU: the suite runs on Dawn's OpenGL ES backend over Mesa's llvmpipe (or on the adapter
// BLASTKIT_WEBGPU_TEST_ADAPTER=auto picks, see ./adapter.ts). A missing adapter is a failure, never a skip: the suite's beforeAll throws (vitest then marks the suite's tests skipped but
// the file failed), and this test fails on its own so the failure is also counted as a failed test.
it(`finds the ${TEST_ADAPTER} adapter`, async () => {
  const backend = await WebGpuBackend.create({ adapter: TEST_ADAPTER });
  expect(backend.describe().engine).toMatch(EXPECTED_ADAPTER);
  await backend.close();
});

describeBackendConformance({
  name: `webgpu (${TEST_ADAPTER} adapter)`,
  createBackend: async () => {
    const backend = await WebGpuBackend.create({ adapter: TEST_ADAPTER });
    console.info(`webgpu conformance on ${backend.describe().engine}`);
    return backend;
  },
  // The suite's defaults (1e-5 of the output's scale + 1e-6) hold for every kernel: f32 with sums in another
  // order than the reference (tiles of 16, tree reductions over 64 invocations) stays within a few ulps at the
  // suite's sizes. Stated here so a looser per-kernel tolerance has to be a visible, explained change.
  tolerance: { relative: 1e-5, absolute: 1e-6 },
});
