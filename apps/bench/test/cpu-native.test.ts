import { describe, expect, it } from 'vitest';
import { runCpuNative } from '../src/suites/cpu-native.js';

// Keeps the suite runnable: a quick run measures every section and every anchor that can run here. Figures are
// not asserted (timings belong to the bench JSON); what must hold is that each figure exists, that an anchor
// is either measured or says why not, and that native decoding gives the reference's greedy tokens.
describe('cpu-native suite: a quick run', () => {
  it('measures the native backend beside NumPy, onnxruntime-node, llama2.c and the reference', async () => {
    const r = await runCpuNative({ quick: true });
    // the addon builds and loads on this machine: its absence is a failure here, with the reason
    if (!r.available) throw new Error(`native backend not available: ${r.reason}`);
    expect(r.backends.native1Thread).toMatchObject({ name: 'native', device: 'cpu', software: false });
    expect(r.backends.native2Threads.engine).toMatch(/Eigen .*2 threads/);
    for (const g of r.gemm) {
      expect(g.native1Thread).toBeGreaterThan(0);
      expect(g.native2Threads).toBeGreaterThan(0);
      // NumPy is on this machine (platform notes): a missing anchor here is a regression of the suite
      expect(typeof g.numpy1Thread).toBe('number');
    }
    expect(r.layers.results.map((x) => [x.threads, x.N])).toEqual([
      [1, 1],
      [1, 16],
      [2, 1],
      [2, 16],
    ]);
    for (const x of r.layers.results.filter((l) => l.N > 1))
      expect(
        typeof x.onnxruntimeMs === 'number' || (x.onnxruntimeMs as { reason: string }).reason,
      ).toBeTruthy();
    expect(r.decode.results.map((x) => x.model)).toEqual([
      'native dense',
      'native BLAST-50%',
      'native dense',
      'native BLAST-50%',
      'reference dense',
    ]);
    expect(r.decode.nativeMatchesReference).toBe(true);
    for (const a of r.decode.llama2c)
      if (!a.measured) expect((a as { reason: string }).reason).toMatch(/run\.c|gcc/);
    expect(r.memory.rssMiB.length).toBeGreaterThan(0);
  }, 120_000);
});
