/**
 * The quality-cpu suite as data: what it measures, how it runs (./quality-cpu.ts, imported only when it runs) and
 * how its result reads in the report.
 */
import { escapeHtml, percent } from '../report/format.js';
import { table } from '../report/table.js';
import type { runQualityCpu } from './quality-cpu.js';
import { defineSuite, type Section } from './suite.js';

/** What a quality-cpu run records (the type its renderer reads). */
export type QualityCpuResult = Awaited<ReturnType<typeof runQualityCpu>>;

function renderQualityCpu(r: QualityCpuResult): Section {
  // older reports have no intervals: show the point estimate alone
  const ci = (v: number, range?: number[]) => (range ? `${v} [${range[0]}, ${range[1]}]` : v);
  const t = table(
    [
      'method',
      'reduction',
      'params kept',
      'in-domain ppl',
      'KL',
      'top-1',
      'Moby Dick ppl',
      'Moby KL',
      'compress s',
    ],
    [
      ['dense', '0%', '100%', r.dense.inDomain.perplexity, 0, '100%', r.dense.mobyDick.perplexity, 0, '–'],
      ...r.results.map((x) => [
        x.method,
        percent(x.reduction, 0),
        percent(x.parameterRatio),
        ci(x.inDomain.perplexity, x.inDomain.perplexityCi),
        ci(x.inDomain.klDivergence, x.inDomain.klDivergenceCi),
        percent(x.inDomain.top1Agreement),
        ci(x.mobyDick.perplexity, x.mobyDick.perplexityCi),
        ci(x.mobyDick.klDivergence, x.mobyDick.klDivergenceCi),
        x.secondsToCompress,
      ]),
    ],
  );
  const note = `In-domain text: ${r.texts.inDomain}. KL and top-1 agreement against the dense model on the same windows${r.intervals ? `; [intervals]: ${r.intervals}` : ''}.`;
  return {
    title: `Compression quality: ${r.model}, no re-training`,
    html: `<p>${escapeHtml(note)}</p>${t.html}`,
    markdown: `${note}\n\n${t.markdown}`,
  };
}

export const QUALITY_CPU_SUITE = defineSuite<QualityCpuResult>({
  name: 'quality-cpu',
  description: 'stories15M at 20% and 50% reduction, every structure: perplexity, KL, top-1 (~12 min)',
  run: async ({ quick }) => await (await import('./quality-cpu.js')).runQualityCpu({ quick }),
  render: renderQualityCpu,
});
