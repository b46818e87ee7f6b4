import { CpuBackend } from '@blastkit/core';
import { describe, expect, it } from 'vitest';
import { renderReport } from '../src/report/page.js';
import { runSuite, SUITES, suiteNames, UnknownSuiteError } from '../src/suites/index.js';
import { KERNEL_METHODS, kernelShape, runKernels } from '../src/suites/kernels.js';

describe('kernels suite: shapes and budgets', () => {
  it("uses the reference's rank for Llama-7B attention and fits low-rank and Monarch in BLAST's budget", () => {
    const s = kernelShape('llama', 4096, 4096, 16);
    expect(s.blastRank).toBe(1024); // method.md §3: ⌊0.5·mn/(m+n)⌋ rounded to a multiple of 16
    expect(s.parameters.blast).toBe(1024 * (4096 + 4096 + 16 * 16));
    for (const [m, n, b] of [
      [288, 288, 4],
      [768, 288, 4],
      [1024, 1024, 16],
    ]) {
      const k = kernelShape('x', m, n, b);
      expect(k.parameters.blast).toBe(k.blastRank * (m + n + b * b));
      // the largest rank that fits: one more would exceed BLAST's count
      expect(k.parameters.lowRank).toBeLessThanOrEqual(k.parameters.blast);
      expect((k.lowRankRank + 1) * (m + n)).toBeGreaterThan(k.parameters.blast);
      expect(k.parameters.monarch).toBeLessThanOrEqual(k.parameters.blast);
      expect(b * (k.monarchBlockRank + 1) * (m + n)).toBeGreaterThan(k.parameters.blast);
    }
  });

  it('rejects a block count that does not divide the shape, naming it', () => {
    expect(() => kernelShape('odd', 100, 64, 16)).toThrow(/odd: 16 blocks do not divide 100×64/);
  });
});

describe('kernels suite: a quick run', () => {
  it('times every structure on every backend that loads, each in its own process, checks every output, and says why the others are absent', async () => {
    const lines: string[] = [];
    const r = await runKernels({ quick: true, log: (l) => lines.push(l) });
    const names = r.backends.map((b) => b.name);
    expect(names.slice(0, 3)).toEqual(['cpu', 'native', 'webgpu']);
    // tfjs: one entry per engine of @blastkit/backend-tfjs, or one absent 'tfjs' saying why
    expect(names.slice(3).every((n) => n.startsWith('tfjs:')) || names[3] === 'tfjs').toBe(true);
    expect(r.backends[0].available).toBe(true);
    // the native addon builds and loads on this machine (pnpm build, g++ and Eigen)
    expect(r.backends[1]).toMatchObject({ name: 'native', available: true });
    for (const b of r.backends) {
      expect(b.detail.length).toBeGreaterThan(0);
      if (!b.available) {
        expect(r.results.some((x) => x.backend === b.name)).toBe(false);
        expect(lines).toContain(`${b.name}: absent (${b.detail})`);
      }
    }
    for (const b of r.backends.filter((x) => x.available)) {
      const rows = r.results.filter((x) => x.backend === b.name);
      expect(rows.map((x) => x.tokens)).toEqual([1, 8]);
      for (const row of rows) {
        expect(row.skipped).toBeUndefined();
        expect(row.checkedAgainst).toBe('definition');
        for (const m of KERNEL_METHODS) {
          expect(row.seconds?.[m]).toBeGreaterThan(0);
          // float32 against the float64 product from the definition: a wrong kernel is off by O(1)
          expect(row.maxRelativeError?.[m], `${b.name} ${m}`).toBeLessThan(1e-5);
        }
        for (const m of ['blast', 'lowRank', 'monarch'] as const) {
          // ratios are stored to 4 significant digits: compare relatively (a ratio of 114.1 vs 114.136 is fine)
          const ratio = (row.seconds?.[m] as number) / (row.seconds?.dense as number);
          expect(Math.abs((row.timeVsDense?.[m] as number) / ratio - 1)).toBeLessThan(1e-3);
        }
      }
    }
    // this machine has no GPU: when WebGPU loads here it is a software adapter, and the result says so
    for (const b of r.backends)
      if (b.available && /llvmpipe|lavapipe/.test(b.detail)) expect(b.software, b.name).toBe(true);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  }, 120_000);

  it('measures in this process on request, with the same cases as in a worker', async () => {
    const inProcess = await runKernels({ quick: true, backends: ['cpu'], isolate: false });
    expect(inProcess.backends).toEqual([
      // what answered, in describe()'s words, as every tool records it
      { name: 'cpu', available: true, detail: new CpuBackend().describe().engine },
    ]);
    expect(inProcess.results).toHaveLength(2);
    expect(inProcess.shapes[0]).toMatchObject({ m: 64, n: 32, blocks: 4, blastRank: 8 });
  });

  it('records an engine that cannot start as absent, with its error', async () => {
    const r = await runKernels({ quick: true, backends: ['tfjs:no-such-engine'] });
    expect(r.backends).toHaveLength(1);
    expect(r.backends[0]).toMatchObject({ name: 'tfjs:no-such-engine', available: false });
    expect(r.backends[0].detail).toMatch(/no-such-engine|not loadable/);
    expect(r.results).toEqual([]);
  }, 60_000);

  it('rejects an unknown backend name', async () => {
    await expect(runKernels({ quick: true, backends: ['cuda9'] })).rejects.toThrow(/unknown backend 'cuda9'/);
  });
});

describe('suite registry', () => {
  it('lists every suite with a description and runs one by name', async () => {
    expect(suiteNames()).toEqual(
      expect.arrayContaining(['core-cpu', 'kernels', 'factorize-cpu', 'convergence-cpu']),
    );
    for (const name of suiteNames()) expect(SUITES[name].description.length).toBeGreaterThan(10);
    const r = await runSuite('convergence-cpu', { quick: true });
    expect(r.suite).toBe('convergence-cpu');
  });

  it('names the known suites when asked for an unknown one', async () => {
    await expect(runSuite('kernel')).rejects.toThrow(UnknownSuiteError);
    await expect(runSuite('kernel')).rejects.toThrow(/unknown suite 'kernel'; available: .*kernels/);
    await expect(runSuite('toString')).rejects.toThrow(UnknownSuiteError);
  });
});

describe('kernels in the report', () => {
  it('renders the backends, one bar chart per backend that ran on one shared scale, a table per shape, and what did not run', async () => {
    const r = await runKernels({ quick: true, backends: ['cpu'], isolate: false });
    // a second backend with one case run and one skipped, as a software adapter records them
    r.backends.push({ name: 'webgpu', available: true, detail: 'llvmpipe', software: true });
    r.results.push(
      { ...r.results[0], backend: 'webgpu', timeVsDense: { blast: 40, lowRank: 2, monarch: 3 } },
      { backend: 'webgpu', layer: 'tiny 64×32', shape: [64, 32], tokens: 8, skipped: 'software' },
    );
    const { html, markdown } = renderReport([r]);
    expect(html).toContain('Kernels: dense vs BLAST vs low-rank vs Monarch');
    expect(html.match(/<svg /g)).toHaveLength(2);
    // one scale: the cpu chart's axis reaches the webgpu chart's 40× too
    const tops = [...html.matchAll(/<svg [\s\S]*?<\/svg>/g)].map((m) =>
      Math.max(...[...m[0].matchAll(/text-anchor="end">([\d.e-]+)</g)].map((t) => Number(t[1]))),
    );
    expect(tops[0]).toBe(tops[1]);
    expect(tops[0]).toBeGreaterThanOrEqual(40);
    expect(html).toContain('<h3>tiny 64×32: b=4; BLAST r=8, low-rank r=9, Monarch r′=2;');
    // padded like the formatter pads Markdown tables: numbers right-aligned
    expect(markdown).toMatch(/\| cpu +\| +1 \| +[\d.]+ \| +[\d.e-]+× \|/);
    expect(markdown).toContain('Not run: webgpu tiny 64×32 N=8: software.');
    expect(markdown).toMatch(/\| webgpu +\| yes, software \| llvmpipe +\|/);
  }, 60_000);
});
