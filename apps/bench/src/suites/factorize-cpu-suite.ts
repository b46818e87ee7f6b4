/**
 * The factorize-cpu suite as data: what it measures, how it runs (./factorize-cpu.ts, imported only when it runs) and
 * how its result reads in the report.
 */
import { svgLinePlot } from '../report/plot.js';
import { table } from '../report/table.js';
import type { runFactorizeCpu } from './factorize-cpu.js';
import { defineSuite, type Section } from './suite.js';

/** What a factorize-cpu run records (the type its renderer reads). */
export type FactorizeCpuResult = Awaited<ReturnType<typeof runFactorizeCpu>>;

function renderFactorizeCpu(r: FactorizeCpuResult): Section {
  const plots = r.results.map((x) =>
    svgLinePlot(
      [
        { name: 'faithful PrecGD', points: x.curves.faithful },
        { name: 'fast solver', points: x.curves.fast },
      ],
      {
        title: `time to error, ${x.shape.join('×')} (b=${x.blocks}, r=${x.rank})`,
        // seconds on a log axis: the fast solver finishes in a tenth of the time and would be a sliver
        xLabel: 'seconds',
        yLabel: 'relative error',
        logX: true,
        logY: true,
      },
    ),
  );
  const t = table(
    ['shape', 'b', 'r', 'faithful s', 'faithful error', 'fast s to that error', 'speed-up'],
    r.results.map((x) => [
      x.shape.join('×'),
      x.blocks,
      x.rank,
      x.faithful.seconds,
      x.faithful.relativeError,
      x.fast.secondsToFaithfulError ?? '–',
      `${x.speedupToFaithfulError}×`,
    ]),
  );
  return {
    title: 'Factorization: faithful PrecGD vs the fast solver (CPU)',
    html: plots.join('\n') + t.html,
    markdown: t.markdown,
  };
}

export const FACTORIZE_CPU_SUITE = defineSuite<FactorizeCpuResult>({
  name: 'factorize-cpu',
  description: 'time to error: faithful PrecGD vs the fast solver on 768×288 (--full adds 1024×1024)',
  run: async ({ quick, full }) => await (await import('./factorize-cpu.js')).runFactorizeCpu({ quick, full }),
  render: renderFactorizeCpu,
});
