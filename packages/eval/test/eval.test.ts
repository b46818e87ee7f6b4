import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuBackend } from '@blastkit/core';
import { lowRankFactorize } from '@blastkit/factorize';
import { LlamaModel, openHfLlama } from '@blastkit/models';
import { describe, expect, it } from 'vitest';
import {
  bootstrapComparison,
  compareModels,
  compareModelsOnSequences,
  logProbabilities,
  perplexity,
  slidingWindows,
  summarizeWindows,
} from '../src/index.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'fixtures');
const golden = JSON.parse(readFileSync(join(fixtures, 'llama-golden.json'), 'utf8'));

/** Which token each scored position predicts, over all windows. */
function predicted(tokens: number[], protocol: Parameters<typeof slidingWindows>[1]) {
  const out: number[] = [];
  for (const [k, w] of slidingWindows(tokens, protocol).entries()) {
    const begin = k * protocol.stride;
    const prefix = protocol.prefixToken === null ? 0 : 1;
    for (let t = w.scoredFrom; t < w.ids.length - 1; t++) out.push(begin + t + 1 - prefix);
  }
  return out;
}

describe('slidingWindows', () => {
  it('predicts every token exactly once, with or without a BOS prefix', () => {
    const tokens = Array.from({ length: 37 }, (_, i) => 10 + i);
    const all = Array.from({ length: 37 }, (_, i) => i);
    for (const [window, stride] of [
      [8, 4],
      [8, 7],
      [10, 3],
      [64, 32],
    ]) {
      expect(predicted(tokens, { window, stride, prefixToken: null })).toEqual(all.slice(1));
      expect(predicted(tokens, { window, stride: Math.min(stride, window - 1), prefixToken: 1 })).toEqual(
        all,
      );
    }
    expect(() => slidingWindows(tokens, { window: 8, stride: 9, prefixToken: null })).toThrow(/stride 9/);
  });
});

describe('perplexity and comparison on the tiny Llama', () => {
  const be = new CpuBackend();
  it('one window: perplexity is exp(mean NLL) of transformers’ logits', async () => {
    const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama'));
    const model = await LlamaModel.load(source, config, { backend: be });
    const ids: number[] = golden.ids;
    let nll = 0;
    for (let t = 0; t < ids.length - 1; t++) {
      const row: number[] = golden['tiny-llama'][t];
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
      nll += lse - row[ids[t + 1]];
    }
    const r = await perplexity(model, ids, { window: 64, stride: 32, prefixToken: null });
    expect(r.tokens).toBe(ids.length - 1);
    expect(r.perplexity).toBeCloseTo(Math.exp(nll / (ids.length - 1)), 3);
    expect(r.protocol).toEqual({ window: 64, stride: 32, prefixToken: null });
    // sliding windows change the context, so the figure moves, but stays finite and positive
    const sliding = await perplexity(model, ids, { window: 4, stride: 2, prefixToken: null });
    expect(sliding.tokens).toBe(ids.length - 1);
    expect(sliding.perplexity).not.toBeCloseTo(r.perplexity, 3);
    await source.close();
  });

  it('a model against itself: KL 0 and full agreement; against a low-rank copy: KL > 0', async () => {
    const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama'));
    const dense = await LlamaModel.load(source, config, { backend: be });
    const name = 'model.layers.0.mlp.gate_proj';
    const cut = await lowRankFactorize(await source.readTensor(`${name}.weight`), 2);
    const small = await LlamaModel.load(source, config, {
      backend: be,
      replacements: new Map([[name, cut]]),
    });
    await source.close();
    const tokens = [1, 5, 17, 42, 3, 9, 60, 2, 33, 7, 8, 19, 23, 44, 50, 61];
    const protocol = { window: 8, stride: 4, prefixToken: null };
    const self = await compareModels(dense, dense, tokens, protocol);
    expect(self.klDivergence).toBeCloseTo(0, 10);
    expect(self.top1Agreement).toBe(1);
    expect(self.reference.perplexity).toBe(self.candidate.perplexity);
    const windows: string[] = [];
    const again = await compareModels(dense, dense, tokens, protocol, {
      onWindow: (d, t) => windows.push(`${d}/${t}`),
    });
    expect(windows).toEqual(['1/3', '2/3', '3/3']); // windows at 0, 4 and 8 cover the 16 tokens
    expect(again).toEqual(self);
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(perplexity(dense, tokens, protocol, { signal: controller.signal })).rejects.toThrow('stop');
    const other = await compareModels(dense, small, tokens, protocol);
    expect(other.tokens).toBe(tokens.length - 1);
    expect(other.klDivergence).toBeGreaterThan(1e-4);
    expect(other.reference.perplexity).toBeCloseTo(self.reference.perplexity, 10);
    // the figures from the definitions, over full log-probability rows: Σ_v P_v (log P_v − log Q_v), argmaxes
    let kl = 0;
    let agree = 0;
    const V = config.vocabSize;
    for (const w of slidingWindows(tokens, protocol)) {
      const [p, q] = [await logProbabilities(dense, w.ids), await logProbabilities(small, w.ids)];
      for (let t = w.scoredFrom; t < w.ids.length - 1; t++) {
        const [rowP, rowQ] = [p.subarray(t * V, (t + 1) * V), q.subarray(t * V, (t + 1) * V)];
        for (let v = 0; v < V; v++) kl += Math.exp(rowP[v]) * (rowP[v] - rowQ[v]);
        if (rowP.indexOf(Math.max(...rowP)) === rowQ.indexOf(Math.max(...rowQ))) agree++;
      }
    }
    expect(other.klDivergence).toBeCloseTo(kl / other.tokens, 12);
    expect(other.top1Agreement).toBe(agree / other.tokens);
    // per-window sums add up to the totals, and the bootstrap interval brackets the point estimate
    expect(other.windows.length).toBe(3);
    expect(summarizeWindows(other.windows).klDivergence).toBeCloseTo(other.klDivergence, 12);
    const ci = bootstrapComparison(other.windows, { resamples: 200, seed: 1 });
    expect(ci.klDivergence[0]).toBeLessThanOrEqual(other.klDivergence);
    expect(ci.klDivergence[1]).toBeGreaterThanOrEqual(other.klDivergence);
    expect(ci.perplexity[0]).toBeLessThanOrEqual(ci.perplexity[1]);
    expect(bootstrapComparison(other.windows, { resamples: 200, seed: 1 })).toEqual(ci);
    // independent sequences: one entry per sequence, each sequence its own set of windows
    const bySequence = await compareModelsOnSequences(dense, small, [tokens.slice(0, 8), tokens.slice(8)], {
      window: 8,
      stride: 4,
      prefixToken: 1,
    });
    expect(bySequence.windows.length).toBe(2);
    expect(bySequence.tokens).toBe(16);
  });
});
