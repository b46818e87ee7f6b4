#!/usr/bin/env node
/**
 * Turns the JSON the suites print into one static HTML report with SVG plots, and optionally rewrites the
 * results block of a README (between `<!-- bench:start -->` and `<!-- bench:end -->`) so the tables there
 * are produced by this app, never typed by hand:
 *   node dist/report.js --out report.html [--readme ../../README.md] results/*.json
 */
import { readFileSync, writeFileSync } from 'node:fs';

// suite outputs are plain JSON; each section reads the fields it knows
// biome-ignore lint/suspicious/noExplicitAny: the suites' JSON shapes are checked by their own tests
type Json = Record<string, any>;

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

/** A line plot as inline SVG; `logY` plots log10(y). */
export function svgLinePlot(
  series: { name: string; points: [number, number][] }[],
  options: { title: string; xLabel: string; yLabel: string; logY?: boolean },
): string {
  // the legend gets its own column on the right, so it never covers a curve
  const W = 700;
  const H = 320;
  const pad = { l: 64, r: 170, t: 28, b: 44 };
  const ty = (y: number) => (options.logY ? Math.log10(Math.max(y, 1e-12)) : y);
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => ty(p[1]));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x: number) => pad.l + ((x - x0) / (x1 - x0 || 1)) * (W - pad.l - pad.r);
  const sy = (y: number) => H - pad.b - ((ty(y) - y0) / (y1 - y0 || 1)) * (H - pad.t - pad.b);
  const ticks = (a: number, b: number) => Array.from({ length: 5 }, (_, i) => a + ((b - a) * i) / 4);
  const fmt = (v: number) => {
    const a = Math.abs(v);
    if (v === 0) return '0';
    if (a >= 10000 || a < 0.01) return v.toExponential(1);
    if (a >= 10) return v.toFixed(0);
    return String(Number(v.toPrecision(2)));
  };
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeHtml(options.title)}</title>`,
    `<text x="${W / 2}" y="16" text-anchor="middle" font-size="13">${escapeHtml(options.title)}</text>`,
    `<line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="#333"/>`,
    `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" stroke="#333"/>`,
    ...ticks(x0, x1).map(
      (x) => `<text x="${sx(x)}" y="${H - pad.b + 14}" text-anchor="middle">${fmt(x)}</text>`,
    ),
    ...ticks(y0, y1).map((y) => {
      const v = options.logY ? 10 ** y : y;
      const py = H - pad.b - ((y - y0) / (y1 - y0 || 1)) * (H - pad.t - pad.b);
      return `<text x="${pad.l - 4}" y="${py + 4}" text-anchor="end">${fmt(v)}</text>`;
    }),
    `<text x="${W / 2}" y="${H - 8}" text-anchor="middle">${escapeHtml(options.xLabel)}</text>`,
    `<text x="14" y="${H / 2}" text-anchor="middle" transform="rotate(-90 14 ${H / 2})">${escapeHtml(options.yLabel)}${options.logY ? ' (log)' : ''}</text>`,
  ];
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const d = s.points
      .map((p, k) => `${k === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`)
      .join('');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6"/>`);
    const ly = pad.t + 16 * (i + 1);
    parts.push(
      `<line x1="${W - pad.r + 12}" y1="${ly - 4}" x2="${W - pad.r + 30}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`,
    );
    parts.push(`<text x="${W - pad.r + 36}" y="${ly}" fill="#222">${escapeHtml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function table(head: string[], rows: (string | number)[][]): { html: string; markdown: string } {
  const html = `<table><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(String(c))}</td>`).join('')}</tr>`)
    .join('')}</table>`;
  const markdown = [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
  return { html, markdown };
}

/** One section per suite: its plots and tables, in HTML and (tables only) Markdown. */
export function renderSuite(r: Json): { title: string; html: string; markdown: string } {
  switch (r.suite) {
    case 'factorize-cpu': {
      const plots = r.results.map((x: Json) =>
        svgLinePlot(
          [
            { name: 'faithful PrecGD', points: x.curves.faithful },
            { name: 'fast solver', points: x.curves.fast },
          ],
          {
            title: `time to error, ${x.shape.join('×')} (b=${x.blocks}, r=${x.rank})`,
            xLabel: 'seconds',
            yLabel: 'relative error',
            logY: true,
          },
        ),
      );
      const t = table(
        ['shape', 'b', 'r', 'faithful s', 'faithful error', 'fast s to that error', 'speed-up'],
        r.results.map((x: Json) => [
          x.shape.join('×'),
          x.blocks,
          x.rank,
          x.faithful.seconds,
          x.faithful.relativeError,
          x.fast.secondsToFaithfulError,
          `${x.speedupToFaithfulError}×`,
        ]),
      );
      return {
        title: 'Factorization: faithful PrecGD vs the fast solver (CPU)',
        html: plots.join('\n') + t.html,
        markdown: t.markdown,
      };
    }
    case 'convergence-cpu': {
      const plot = svgLinePlot(
        r.runs.map((x: Json) => ({ name: `${x.method} r=${x.rank}`, points: x.curve })),
        {
          title: `exact BLAST target ${r.target.shape.join('×')}, b=${r.target.blocks}, r*=${r.target.trueRank}`,
          xLabel: 'step',
          yLabel: 'relative error',
          logY: true,
        },
      );
      const t = table(
        ['method', 'rank', 'final error', 'seconds'],
        r.runs.map((x: Json) => [x.method, x.rank, x.finalRelativeError, x.seconds]),
      );
      return {
        title: 'Convergence: PrecGD vs GD (the paper’s figure)',
        html: plot + t.html,
        markdown: t.markdown,
      };
    }
    case 'quality-cpu': {
      const t = table(
        ['method', 'reduction', 'params kept', 'in-domain ppl', 'KL', 'top-1', 'Moby Dick ppl', 'compress s'],
        [
          ['dense', 0, '100%', r.dense.inDomain.perplexity, 0, '100%', r.dense.mobyDick.perplexity, 0],
          ...r.results.map((x: Json) => [
            x.method,
            `${100 * x.reduction}%`,
            `${(100 * x.parameterRatio).toFixed(1)}%`,
            x.inDomain.perplexity,
            x.inDomain.klDivergence,
            `${(100 * x.inDomain.top1Agreement).toFixed(1)}%`,
            x.mobyDick.perplexity,
            x.secondsToCompress,
          ]),
        ],
      );
      return {
        title: `Compression quality: ${r.model}, no re-training (${r.texts.inDomain})`,
        html: t.html,
        markdown: t.markdown,
      };
    }
    case 'models-cpu': {
      const t = table(
        ['model', 'linear params', 'prefill s (128 tok)', 'vs dense', 'decode tok/s', 'vs dense'],
        r.results.map((x: Json) => [
          x.model,
          x.linearParameters,
          x.prefillSeconds,
          x.prefillVsDense,
          x.decodeTokensPerSecond,
          x.decodeSpeedupVsDense,
        ]),
      );
      return { title: `Inference speed: ${r.model} on ${r.backend}`, html: t.html, markdown: t.markdown };
    }
    default:
      return {
        title: String(r.suite),
        html: `<pre>${escapeHtml(JSON.stringify(r, null, 2))}</pre>`,
        markdown: '',
      };
  }
}

export function renderReport(results: Json[]): { html: string; markdown: string } {
  const sections = results.map(renderSuite);
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>blastkit benchmarks</title>
<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}svg{margin:0.5em 1em 0 0}</style>
</head><body><h1>blastkit benchmarks</h1>
${sections.map((s) => `<h2>${escapeHtml(s.title)}</h2>\n${s.html}`).join('\n')}
</body></html>\n`;
  const markdown = sections
    .filter((s) => s.markdown)
    .map((s) => `**${s.title}**\n\n${s.markdown}`)
    .join('\n\n');
  return { html, markdown };
}

const isMain = process.argv[1]?.endsWith('report.js');
if (isMain) {
  const args = process.argv.slice(2);
  const take = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args.splice(i, 2)[1] : undefined;
  };
  const out = take('--out') ?? 'report.html';
  const readme = take('--readme');
  const results = args.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Json);
  const { html, markdown } = renderReport(results);
  writeFileSync(out, html);
  if (readme) {
    const text = readFileSync(readme, 'utf8');
    const start = '<!-- bench:start -->';
    const end = '<!-- bench:end -->';
    const i = text.indexOf(start);
    const j = text.indexOf(end);
    if (i < 0 || j < i) throw new Error(`${readme}: no ${start} … ${end} block to replace`);
    writeFileSync(readme, `${text.slice(0, i + start.length)}\n${markdown}\n${text.slice(j)}`);
  }
  process.stderr.write(`wrote ${out}${readme ? ` and the results block of ${readme}` : ''}\n`);
}
