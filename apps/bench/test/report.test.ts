import { describe, expect, it } from 'vitest';
import { renderReport, svgLinePlot } from '../src/report.js';
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
});
