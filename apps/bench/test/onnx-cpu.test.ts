import { describe, expect, it } from 'vitest';
import { runSuite, SUITES } from '../src/index.js';
import type { OnnxCpuResult } from '../src/suites/onnx-cpu.js';

describe('bench suite onnx-cpu (quick)', () => {
  it('reports speed ratios, folder sizes and perplexity per dtype from one run, and renders them', async () => {
    const r = (await runSuite('onnx-cpu', { quick: true })) as unknown as OnnxCpuResult;
    expect(r.suite).toBe('onnx-cpu');
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    // the ratios are those of the rows beside them
    expect([...new Set(r.modelRatios.map((x) => x.model))]).toEqual([
      'blast-50',
      'blast-50-unfused',
      'blast-50-b4',
      'blast-50-b4-unfused',
    ]);
    for (const ratio of r.modelRatios) {
      const [d, b] = ['dense', ratio.model].map((m) =>
        r.models.find((x) => x.model === m && x.threads === ratio.threads),
      );
      expect(ratio.decodeSpeedup).toBeCloseTo(
        (b?.decodeTokensPerSecond ?? 0) / (d?.decodeTokensPerSecond ?? 1),
        2,
      );
      expect(ratio.prefillTimeRatio).toBeCloseTo((b?.prefillMs ?? 0) / (d?.prefillMs ?? 1), 2);
    }
    expect(new Set(r.layers.map((l) => l.form))).toEqual(
      new Set([
        'dense',
        'blast-matmul',
        'blast-mul-reducesum',
        'blast-einsum',
        'blast-by-length',
        'blast-per-block',
      ]),
    );
    // every layer row has its evicted-cache and warm time, each against dense's
    for (const l of r.layers) {
      expect(l.warmMs).toBeGreaterThan(0);
      const dense = r.layers.find(
        (d) => d.form === 'dense' && d.tokens === l.tokens && d.threads === l.threads,
      );
      expect(l.warmVsDense).toBeCloseTo((l.warmMs ?? 0) / (dense?.warmMs ?? 1), 2);
    }
    // the stack: dense and both decode-capable mixings, ratios against its dense row
    expect(r.stacks.map((x) => x.form)).toEqual(['dense', 'by-length', 'per-block']);
    for (const x of r.stacks) {
      const dense = r.stacks.find((y) => y.form === 'dense' && y.threads === x.threads);
      expect(x.decodeSpeedup).toBeCloseTo(x.decodeTokensPerSecond / (dense?.decodeTokensPerSecond ?? 1), 2);
      expect(x.prefillTimeRatio).toBeCloseTo(x.prefillMs / (dense?.prefillMs ?? 1), 2);
    }
    expect(r.stackAuto).toEqual([{ width: 256, mixing: expect.stringMatching(/^(by-length|per-block)$/) }]);
    // the profiler found the 42 decoder linears and the head in both phases, inside the measured totals
    expect(r.ceilings.map((c) => c.phase)).toEqual(['decode', 'prefill']);
    for (const c of r.ceilings) {
      expect(c.linearMs).toBeGreaterThan(0);
      expect(c.headMs).toBeGreaterThan(0);
      expect(c.linearShare).toBeCloseTo(c.linearMs / c.totalMs, 2);
      expect(c.atHalfCost).toBeCloseTo(
        c.phase === 'decode' ? 1 / (1 - c.linearShare / 2) : 1 - c.linearShare / 2,
        2,
      );
    }
    expect(r.fastestMixing.map((f) => [f.tokens, f.threads])).toEqual([
      [1, 1],
      [256, 1],
    ]);
    // every dtype of both models was written; each smaller than the one before, BLAST below dense
    const bytes = (m: string, d: string) =>
      r.sizes.find((s) => s.model === m && s.dtype === d)?.folderBytes ?? 0;
    for (const m of ['dense', 'blast-50']) {
      expect(bytes(m, 'fp16')).toBeLessThan(bytes(m, 'fp32'));
      expect(bytes(m, 'q8')).toBeLessThan(bytes(m, 'fp16'));
      expect(bytes(m, 'q4')).toBeLessThan(bytes(m, 'q8'));
    }
    expect(bytes('blast-50', 'fp32')).toBeLessThan(bytes('dense', 'fp32'));
    expect(r.sizes[0]).toMatchObject({ model: 'dense', dtype: 'fp32', vsDenseFp32: 1 });
    // the fp32 exports' perplexity is the blastkit backend's on the same windows
    expect(r.perplexity.rows).toHaveLength(8);
    for (const b of r.perplexity.blastkit) {
      const onnx = r.perplexity.rows.find((p) => p.model === b.model && p.dtype === 'fp32')?.perplexity ?? 0;
      expect(Math.abs(onnx - b.perplexity) / b.perplexity).toBeLessThan(1e-3);
    }
    // the model and layer targets, the widest stack's two, the two sizes
    // the model targets (b = 16 and b = 4, per thread count) and layer targets, the widest stack's two,
    // the two sizes
    const threadCounts = new Set(r.models.map((x) => x.threads)).size;
    expect(r.targets.length).toBe(2 * 2 * threadCounts + r.fastestMixing.length + 2 + 2);
    const section = SUITES['onnx-cpu'].render?.(r as never);
    expect(section?.markdown).toMatch(/decode speed-up/);
    expect(section?.markdown).toMatch(/q4 vs dense fp32/);
    expect(section?.markdown).toMatch(/linears share/);
    expect(section?.markdown).toMatch(/Where the export pays off/);
    expect(section?.html).toMatch(/^<p>stories15M exported/);
  }, 120_000);
});
