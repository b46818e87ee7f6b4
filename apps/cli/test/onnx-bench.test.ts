import { runSuite } from '@blastkit/bench';
import { describe, expect, it } from 'vitest';

describe('bench suite onnx-cpu', () => {
  it('runs in quick mode and reports decode, prefill and layer timings as JSON (no timing assertions)', async () => {
    const r = (await runSuite('onnx-cpu', { quick: true })) as unknown as Record<string, unknown> & {
      models: { model: string; decodeTokensPerSecond: number }[];
      layers: { form: string; ms: number }[];
      fastestMixing: unknown[];
    };
    expect(r.suite).toBe('onnx-cpu');
    expect(r.models.map((m) => m.model)).toEqual(['dense', 'blast-50']);
    for (const m of r.models) expect(m.decodeTokensPerSecond).toBeGreaterThan(0);
    expect(new Set(r.layers.map((l) => l.form))).toEqual(
      new Set(['dense', 'blast-matmul', 'blast-mul-reducesum', 'blast-einsum']),
    );
    expect(r.fastestMixing.length).toBe(2);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  }, 120_000);
});
