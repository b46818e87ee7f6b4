/**
 * The quality-cpu suite as data: what it measures, how it runs (./quality-cpu.ts, imported only when it runs) and
 * how its result reads in the report.
 */
import { escapeHtml, percent } from '../report/format.js';
import { svgLinePlot } from '../report/plot.js';
import { table } from '../report/table.js';
import type { runQualityCpu } from './quality-cpu.js';
import { defineSuite, type Section } from './suite.js';

/** What a quality-cpu run records (the type its renderer reads). */
export type QualityCpuResult = Awaited<ReturnType<typeof runQualityCpu>>;

function renderQualityCpu(r: QualityCpuResult): Section {
  // older reports have no intervals, budgets, distillation or sweep: show what is there
  const ci = (v: number, range?: number[]) => (range ? `${v} [${range[0]}, ${range[1]}]` : v);
  type Row = QualityCpuResult['results'][number] & {
    budget?: { kept: number; within1Percent: boolean; how: string };
    distilled?: {
      steps: number;
      inDomain: {
        perplexity: number;
        perplexityCi: number[];
        klDivergence: number;
        klDivergenceCi: number[];
      };
    };
  };
  const results = r.results as Row[];
  const distilled = results.some((x) => x.distilled);
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
      ...(distilled ? ['ppl after distillation', 'KL after distillation'] : []),
      'compress s',
    ],
    [
      [
        'dense',
        '0%',
        '100%',
        r.dense.inDomain.perplexity,
        0,
        '100%',
        r.dense.mobyDick.perplexity,
        0,
        ...(distilled ? ['–', '–'] : []),
        '–',
      ],
      ...results.map((x) => [
        x.method,
        percent(x.reduction, 0),
        `${percent(x.budget?.kept ?? x.parameterRatio)}${x.budget && !x.budget.within1Percent ? ' (budget missed)' : ''}`,
        ci(x.inDomain.perplexity, x.inDomain.perplexityCi),
        ci(x.inDomain.klDivergence, x.inDomain.klDivergenceCi),
        percent(x.inDomain.top1Agreement),
        ci(x.mobyDick.perplexity, x.mobyDick.perplexityCi),
        ci(x.mobyDick.klDivergence, x.mobyDick.klDivergenceCi),
        ...(distilled
          ? x.distilled
            ? [
                ci(x.distilled.inDomain.perplexity, x.distilled.inDomain.perplexityCi),
                ci(x.distilled.inDomain.klDivergence, x.distilled.inDomain.klDivergenceCi),
              ]
            : ['–', '–']
          : []),
        x.secondsToCompress,
      ]),
    ],
  );
  const extra = r as Partial<{ budget: string; distillation: { steps: number; text: string } | null }>;
  const notes = [
    `In-domain text: ${r.texts.inDomain}. KL and top-1 agreement against the dense model on the same windows${r.intervals ? `; [intervals]: ${r.intervals}` : ''}.`,
    ...(extra.budget
      ? [`Budgets: ${extra.budget}; "params kept" is the matched fraction of decoder-linear parameters.`]
      : []),
    ...(extra.distillation
      ? [`Distillation: ${extra.distillation.steps} steps for every row on ${extra.distillation.text}.`]
      : []),
  ];
  const how = results
    .filter((x) => x.budget && !x.budget.how.startsWith('every module'))
    .map((x) => `${x.method} at ${percent(x.reduction, 0)}: ${x.budget?.how}`);
  if (how.length) notes.push(`Budgets met by moving modules: ${how.join('; ')}.`);
  const sweep = (r as Partial<{ sweep: { method: string; kept: number; perplexity: number }[] }>).sweep ?? [];
  const methods = [...new Set(sweep.map((p) => p.method))];
  const plot =
    sweep.length > 0
      ? svgLinePlot(
          methods.map((name, i) => ({
            name,
            points: sweep
              .filter((p) => p.method === name)
              .map((p) => [p.kept, p.perplexity])
              .sort((a, b) => a[0] - b[0]),
            color: i % 6,
            dashed: i >= 6,
          })),
          {
            title: `${r.model}: in-domain perplexity against kept decoder-linear parameters`,
            xLabel: 'kept fraction of decoder-linear parameters',
            yLabel: 'in-domain perplexity',
            logY: true,
          },
        )
      : '';
  return {
    title: `Compression quality: ${r.model}${distilled ? ', before and after a short distillation' : ', no re-training'}`,
    html: `${notes.map((n) => `<p>${escapeHtml(n)}</p>`).join('')}${t.html}${plot}`,
    markdown: `${notes.join('\n\n')}\n\n${t.markdown}`,
  };
}

export const QUALITY_CPU_SUITE = defineSuite<QualityCpuResult>({
  name: 'quality-cpu',
  description:
    'stories15M at 20% and 50% reduction at matched budgets, every structure: perplexity, KL, top-1, after distillation, and a kept-parameters sweep (~100 min on 2 cores; stage tfjs-node first: on WebAssembly the distillations take hours)',
  run: async ({ quick, log }) => await (await import('./quality-cpu.js')).runQualityCpu({ quick, log }),
  render: renderQualityCpu,
});
