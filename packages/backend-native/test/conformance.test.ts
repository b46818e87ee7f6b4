import { describeBackendConformance } from '@blastkit/core/test';
import { expect, it } from 'vitest';
import { NativeBackend } from '../src/index.js';

// The shared conformance suite on the native addon, with the suite's default tolerances (1e-5 of the output's
// scale + 1e-6) and no known gaps. Where the addon cannot load (no compiler or Eigen at build time,
// BLASTKIT_NATIVE=off) this file reports one skipped test whose name gives the reason — the one deliberate skip
// of this package; with BLASTKIT_REQUIRE_NATIVE set it fails instead.
const probe = NativeBackend.probe();

if (probe.available) {
  it('describes itself', async () => {
    const backend = await NativeBackend.create({ threads: 2 });
    expect(backend.describe()).toEqual({
      name: 'native',
      device: 'cpu',
      engine: expect.stringMatching(/^Eigen \d+\.\d+\.\d+ \(.+\), 2 threads$/),
      software: false,
    });
    backend.close();
  });

  describeBackendConformance({
    name: `native (${probe.variant}, ${probe.threads} threads)`,
    createBackend: () => NativeBackend.create(),
  });

  // the small-thread case: every kernel's parallel paths collapse onto the calling thread
  describeBackendConformance({
    name: `native (${probe.variant}, 1 thread)`,
    createBackend: () => NativeBackend.create({ threads: 1 }),
  });
} else if (process.env.BLASTKIT_REQUIRE_NATIVE) {
  it('loads the native addon (BLASTKIT_REQUIRE_NATIVE is set)', () => {
    throw new Error(probe.reason);
  });
} else {
  const why = `native conformance needs the native addon (here: ${probe.reason})`;
  console.warn(why);
  it.skip(why, () => {});
}
