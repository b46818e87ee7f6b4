/**
 * The kernels suite as data: what it measures, how it runs (./kernels.ts, imported only when it runs) and
 * how its result reads in the report.
 */
import { escapeHtml, formatNumber, percent } from '../report/format.js';
import { svgBarChart } from '../report/plot.js';
import { table } from '../report/table.js';
import type { KernelRow, KernelsResult } from './kernels.js';
import { defineSuite, type Section } from './suite.js';

/** A row that ran: its timings and errors are there. */
type MeasuredRow = KernelRow & Required<Pick<KernelRow, 'seconds' | 'timeVsDense' | 'maxRelativeError'>>;
const measured = (x: KernelRow): x is MeasuredRow => !x.skipped;

const shapeLabel = (m: number, n: number) => (m === n ? `${m}²` : `${m}×${n}`);

function renderKernels(r: KernelsResult): Section {
  const backends = table(
    ['backend', 'loaded', 'what answered / why not'],
    r.backends.map((b) => [b.name, b.available ? (b.software ? 'yes, software' : 'yes') : 'no', b.detail]),
  );
  const ran = r.results.filter(measured);
  const skipped = r.results.filter((x) => x.skipped);
  const worstError = (x: MeasuredRow) => {
    const errors = Object.values(x.maxRelativeError);
    return errors.some((e) => e === null) ? 'is the reference' : Math.max(...(errors as number[]));
  };
  const ratio = (v: number) => `${formatNumber(v)}×`;
  // one table per layer shape, backends and N as rows: the comparison a reader makes is within a shape
  const perShape = r.shapes.map((s) => {
    const rows = ran.filter((x) => x.layer === s.name);
    const caption =
      `${s.name}: b=${s.blocks}; BLAST r=${s.blastRank}, low-rank r=${s.lowRankRank}, Monarch r′=${s.monarchBlockRank}; ` +
      `parameters vs dense: BLAST ${percent(s.parameters.blast / s.parameters.dense)}, ` +
      `low-rank ${percent(s.parameters.lowRank / s.parameters.dense)}, Monarch ${percent(s.parameters.monarch / s.parameters.dense)}`;
    const t = table(
      ['backend', 'N', 'dense ms', 'BLAST', 'low-rank', 'Monarch', 'max rel. error', 'checked against'],
      rows.map((x) => [
        x.backend,
        x.tokens,
        Number((x.seconds.dense * 1e3).toPrecision(3)),
        ratio(x.timeVsDense.blast),
        ratio(x.timeVsDense.lowRank),
        ratio(x.timeVsDense.monarch),
        worstError(x),
        x.checkedAgainst ?? '',
      ]),
    );
    return { shape: s, caption, table: t, rows };
  });
  const skippedText = skipped.map((x) => `${x.backend} ${x.layer} N=${x.tokens}: ${x.skipped}`);
  // one scale for every backend's chart, so bars compare across charts too
  const allRatios = ran.flatMap((x) => [x.timeVsDense.blast, x.timeVsDense.lowRank, x.timeVsDense.monarch]);
  const range: [number, number] = [Math.min(...allRatios), Math.max(...allRatios)];
  const plots = [...new Set<string>(ran.map((x) => x.backend))].map((backend) => {
    const mine = ran.filter((x) => x.backend === backend);
    const software = r.backends.find((b) => b.name === backend)?.software;
    return svgBarChart(
      mine.map((x) => `${shapeLabel(x.shape[0], x.shape[1])}\nN=${x.tokens}`),
      [
        { name: 'BLAST', values: mine.map((x) => x.timeVsDense.blast) },
        { name: 'low-rank', values: mine.map((x) => x.timeVsDense.lowRank) },
        { name: 'Monarch', values: mine.map((x) => x.timeVsDense.monarch) },
      ],
      {
        title: `${backend}${software ? ' (software adapter)' : ''}: time / dense time`,
        yLabel: 'time / dense time',
        reference: 1,
        referenceName: 'dense',
        range,
      },
    );
  });
  const notes = [
    'BLAST, low-rank and Monarch columns: time per call divided by the dense time on the same backend, shape and N, in the same run (below 1× is faster than dense).',
    `Timing: ${r.timing}.`,
    `Error check: ${r.reference}.`,
  ];
  const skippedHtml = skippedText.length
    ? `<p>Not run:</p><ul>${skippedText.map((s) => `<li>${escapeHtml(s)}</li>`).join('')}</ul>`
    : '';
  // the README gets the reference's headline shape (method.md §6); the HTML report has every shape
  const headline =
    perShape.find((p) => p.shape.m === 4096 && p.shape.n === 4096) ?? perShape[perShape.length - 1];
  return {
    title: `Kernels: dense vs BLAST vs low-rank vs Monarch per backend${r.quick ? ' (quick run)' : ''}`,
    html:
      backends.html +
      `<div class="charts">${plots.join('\n')}</div>` +
      notes.map((n) => `<p class="note">${escapeHtml(n)}</p>`).join('') +
      perShape.map((p) => `<h3>${escapeHtml(p.caption)}</h3>${p.table.html}`).join('\n') +
      skippedHtml,
    markdown: [
      backends.markdown,
      ...(headline ? [`${headline.caption}:`, headline.table.markdown] : []),
      ...(skippedText.length ? [`Not run: ${skippedText.join('; ')}.`] : []),
      `${notes[0]} Every shape (288², 768×288, 1024², 4096²) is in the HTML report.`,
    ].join('\n\n'),
  };
}

export const KERNELS_SUITE = defineSuite<KernelsResult>({
  name: 'kernels',
  description:
    'dense vs BLAST vs low-rank vs Monarch forwards per backend (cpu, webgpu, tfjs) and layer shape, N = 1 and 256',
  run: async ({ quick, log, backends }) =>
    await (await import('./kernels.js')).runKernels({ quick, log, backends }),
  render: renderKernels,
});
