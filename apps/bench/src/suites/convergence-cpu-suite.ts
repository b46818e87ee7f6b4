/**
 * The convergence-cpu suite as data: what it measures, how it runs (./convergence-cpu.ts, imported only when it runs) and
 * how its result reads in the report.
 */
import { svgLinePlot } from '../report/plot.js';
import { table } from '../report/table.js';
import type { runConvergenceCpu } from './convergence-cpu.js';
import { defineSuite, type Section } from './suite.js';

/** What a convergence-cpu run records (the type its renderer reads). */
export type ConvergenceCpuResult = Awaited<ReturnType<typeof runConvergenceCpu>>;

function renderConvergenceCpu(r: ConvergenceCpuResult): Section {
  const ranks = [...new Set<number>(r.runs.map((x) => x.rank))];
  const plot = svgLinePlot(
    // one colour per rank, solid for PrecGD and dashed for GD: the two GD curves lie on top of each other
    r.runs.map((x) => ({
      name: `${x.method} r=${x.rank}`,
      points: x.curve,
      color: ranks.indexOf(x.rank),
      dashed: x.method === 'gd',
    })),
    {
      title: `exact BLAST target ${r.target.shape.join('×')}, b=${r.target.blocks}, r*=${r.target.trueRank}`,
      xLabel: 'step',
      yLabel: 'relative error',
      logY: true,
    },
  );
  const t = table(
    ['method', 'rank', 'final error', 'seconds'],
    r.runs.map((x) => [x.method, x.rank, x.finalRelativeError, x.seconds]),
  );
  return {
    title: 'Convergence: PrecGD vs GD (the paper’s figure)',
    html: plot + t.html,
    markdown: t.markdown,
  };
}

export const CONVERGENCE_CPU_SUITE = defineSuite<ConvergenceCpuResult>({
  name: 'convergence-cpu',
  description: "the paper's convergence figure: PrecGD vs GD on an exact BLAST target",
  run: async ({ quick }) => await (await import('./convergence-cpu.js')).runConvergenceCpu({ quick }),
  render: renderConvergenceCpu,
});
