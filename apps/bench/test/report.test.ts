import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatNumber } from '../src/report/format.js';
import { renderReport } from '../src/report/page.js';
import { niceTicks, svgLinePlot } from '../src/report/plot.js';
import { runConvergenceCpu } from '../src/suites/convergence-cpu.js';

describe('bench report', () => {
  it('draws one SVG path per series, on a log axis when asked', () => {
    const svg = svgLinePlot(
      [
        {
          name: 'a',
          points: [
            [0, 1],
            [1, 0.1],
            [2, 0.01],
          ],
        },
        {
          name: 'b',
          points: [
            [0, 1],
            [2, 0.5],
          ],
        },
      ],
      { title: 't', xLabel: 'x', yLabel: 'y', logY: true },
    );
    expect(svg.match(/<path /g)).toHaveLength(2);
    // on a log axis 0.1 sits halfway between 1 and 0.01
    const ys = [...svg.matchAll(/[ML][\d.]+,([\d.]+)/g)].map((m) => Number(m[1]));
    expect(ys[1]).toBeCloseTo((ys[0] + ys[2]) / 2, 1);
  });

  it('renders a suite’s JSON into HTML with plots and a Markdown table for the README', async () => {
    const convergence = await runConvergenceCpu({ quick: true });
    const { html, markdown } = renderReport([convergence]);
    expect(html).toContain('<svg');
    expect(html).toContain('Convergence: PrecGD vs GD');
    expect(markdown).toMatch(/\| method \| rank \| final error \| seconds \|/);
    expect(markdown.split('\n').filter((l) => l.startsWith('| precgd'))).toHaveLength(2);
  });

  it('renders the committed re-training result: one row per method, the step-time ratio in the note', () => {
    const result = JSON.parse(readFileSync(new URL('../results/retrain-cpu.json', import.meta.url), 'utf8'));
    const { html, markdown } = renderReport([result]);
    expect(html).toContain('Re-training after compression: stories15M');
    const rows = markdown.split('\n').filter((l) => l.startsWith('| blast'));
    expect(rows).toHaveLength(result.runs.length);
    expect(rows[0]).toContain(`${(100 * result.runs[0].perplexity.gapClosed).toFixed(1)}%`);
    expect(markdown).toContain(`BLAST ${formatNumber(result.stepTime.blastOverDenseStep)}×`);
  });

  it('renders a --full from-scratch result (ViT only, no GPT) under its own title', () => {
    const result = JSON.parse(readFileSync(new URL('../results/scratch-cpu.json', import.meta.url), 'utf8'));
    const full = { ...result, full: true, gpt: null };
    const { html, markdown } = renderReport([full]);
    expect(html).toContain('--full: the 10-epoch ViT');
    const both = renderReport([result, full]).html;
    expect(both).toContain('<h2 id="scratch-cpu">');
    expect(both).toContain('<h2 id="scratch-cpu-full">');
    expect(markdown).not.toContain('Small GPT');
    expect(markdown).toContain(`BLAST ${formatNumber(result.vit.blastMinusDensePoints)} points from dense`);
  });

  it('renders the committed training-step result: a table per model with its Amdahl bound, and the sweep', () => {
    const result = JSON.parse(
      readFileSync(new URL('../results/train-step-cpu.json', import.meta.url), 'utf8'),
    );
    const { markdown } = renderReport([result]);
    for (const m of result.results) expect(markdown).toContain(`below ${formatNumber(m.amdahlBound)}×`);
    const blastRows = markdown.split('\n').filter((l) => l.startsWith('| blast-b4'));
    expect(blastRows).toHaveLength(result.results.length);
    expect(blastRows[1]).toContain(`${formatNumber(result.results[1].students[3].stepVsDense)}×`);
    expect(markdown.split('\n').filter((l) => /^\| \d+² /.test(l))).toHaveLength(result.layerSweep.length);
  });

  it('renders the committed from-scratch result: a ViT and a GPT table with one row per layer kind', () => {
    const result = JSON.parse(readFileSync(new URL('../results/scratch-cpu.json', import.meta.url), 'utf8'));
    const { markdown } = renderReport([result]);
    const blastRows = markdown.split('\n').filter((l) => l.startsWith('| blast'));
    expect(blastRows).toHaveLength(2);
    const vitBlast = result.vit.results.find((x: { kind: string }) => x.kind === 'blast');
    expect(blastRows[0]).toContain(`${(100 * vitBlast.testAccuracy).toFixed(2)}%`);
  });

  it('puts axis ticks on round values: decades, 1-2-5 steps, or every integer multiple within a decade', () => {
    expect(niceTicks(3e-8, 0.9, true).ticks).toEqual([1e-8, 1e-6, 1e-4, 1e-2, 1]);
    expect(niceTicks(0.09, 1.7, true).ticks).toEqual([0.05, 0.1, 0.2, 0.5, 1, 2]);
    expect(niceTicks(0.46, 0.95, true).ticks).toEqual([0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    expect(niceTicks(1, 300, false).ticks).toEqual([0, 50, 100, 150, 200, 250, 300]);
    const t = niceTicks(0.33, 47.8, false);
    expect(t.lo).toBe(0);
    expect(t.hi).toBeGreaterThanOrEqual(47.8);
  });

  it('formats numbers without float noise, counts with separators, tiny values as exponents', () => {
    expect(formatNumber(5971968)).toBe('5,971,968');
    expect(formatNumber(0.30000000000000004)).toBe('0.3');
    expect(formatNumber(6.612e-8)).toBe('6.6e-8');
    expect(formatNumber(622.94)).toBe('622.9');
    expect(formatNumber(1e-4)).toBe('1e-4');
  });
});
