#!/usr/bin/env node
/**
 * Turns the JSON the suites print into one static HTML report with SVG plots, and optionally rewrites the
 * results block of a README (between `<!-- bench:start -->` and `<!-- bench:end -->`) so the tables there
 * are produced by this app, never typed by hand:
 *   node dist/report.js --out report.html [--readme ../../README.md] results/*.json
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

// suite outputs are plain JSON; each section reads the fields it knows
// biome-ignore lint/suspicious/noExplicitAny: the suites' JSON shapes are checked by their own tests
type Json = Record<string, any>;

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

/** A number for an axis or a table: short, no float noise, exponents only for very large or small values. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  // counts (parameters, tokens) stay whole, with separators
  if (Number.isInteger(v) && a < 1e15) return a >= 1e4 ? v.toLocaleString('en-US') : String(v);
  if (a >= 1e6 || a < 1e-3) {
    const [mantissa, exponent] = v.toExponential(1).split('e');
    return `${mantissa.replace(/\.0$/, '')}e${Number(exponent)}`;
  }
  return String(Number(v.toPrecision(a >= 100 ? 4 : 3)));
}

/**
 * Round tick values covering [lo, hi]: multiples of 1, 2 or 5 × 10^k on a linear axis; on a log axis whole
 * decades when the data spans more than two, else the 1-2-5 values. The axis range is widened to the outer
 * ticks so they sit on its ends.
 */
export function niceTicks(lo: number, hi: number, log: boolean): { ticks: number[]; lo: number; hi: number } {
  if (!(hi > lo)) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    [lo, hi] = log ? [lo / 2, hi * 2] : [lo - pad, hi + pad];
  }
  if (log) {
    const d0 = Math.floor(Math.log10(lo) + 1e-9);
    const d1 = Math.ceil(Math.log10(hi) - 1e-9);
    // written as '1e<d>' so 10^-4 is 0.0001, not 0.00009999999999999999
    const decade = (d: number) => Number(`1e${d}`);
    if (Math.log10(hi / lo) > 2.5) {
      const every = Math.ceil((d1 - d0) / 6);
      const ticks = [];
      for (let d = d0; d < d1 + every; d += every) ticks.push(decade(d));
      return { ticks, lo: ticks[0], hi: ticks[ticks.length - 1] };
    }
    // 1-2-5 steps, or every integer multiple when the data lies within about one decade
    for (const mantissas of [
      [1, 2, 5],
      [1, 2, 3, 4, 5, 6, 7, 8, 9],
    ]) {
      const candidates: number[] = [];
      for (let d = d0 - 1; d <= d1; d++)
        for (const m of mantissas) candidates.push(Number((m * 10 ** d).toPrecision(6)));
      const below = candidates.filter((c) => c <= lo * (1 + 1e-9)).pop() ?? candidates[0];
      const above = candidates.find((c) => c >= hi * (1 - 1e-9)) ?? candidates[candidates.length - 1];
      const ticks = candidates.filter((c) => c >= below && c <= above);
      if (ticks.length >= 4 || mantissas.length > 3) return { ticks, lo: below, hi: above };
    }
  }
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  // the 1-2-5 step nearest the ideal fifth of the range (on a log scale), so there are about 4 to 8 ticks
  const step = [1, 2, 5, 10]
    .map((m) => m * mag)
    .reduce((best, c) => (Math.abs(Math.log(c / raw)) < Math.abs(Math.log(best / raw)) ? c : best));
  const a = Math.floor(lo / step + 1e-9) * step;
  const b = Math.ceil(hi / step - 1e-9) * step;
  const ticks = [];
  for (let v = a; v <= b + step * 1e-6; v += step) ticks.push(Number(v.toPrecision(12)));
  return { ticks, lo: a, hi: b };
}

interface LineSeries {
  name: string;
  points: [number, number][];
  /** Index into the palette (default: the series' position); series that belong together share a colour. */
  color?: number;
  dashed?: boolean;
}

/** An SVG plot's opening tag, accessible title and visible heading. */
function svgHeading(W: number, H: number, pad: { l: number; r: number }, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeHtml(title)}</title>`,
    `<text x="${(W - pad.r + pad.l) / 2}" y="16" text-anchor="middle" font-size="13">${escapeHtml(title)}</text>`,
  ];
}

/** Light horizontal grid lines from x1 to x2 at each tick, labelled left of `labelX`. */
function yGridLines(
  ticks: number[],
  sy: (v: number) => number,
  x1: number,
  x2: number,
  labelX: number,
): string[] {
  return ticks.map(
    (v) =>
      `<line x1="${x1}" y1="${sy(v).toFixed(1)}" x2="${x2}" y2="${sy(v).toFixed(1)}" stroke="#eee"/>` +
      `<text x="${labelX - 5}" y="${(sy(v) + 4).toFixed(1)}" text-anchor="end">${formatNumber(v)}</text>`,
  );
}

/** A line plot as inline SVG, with round ticks; `logX` / `logY` put an axis on a log scale. */
export function svgLinePlot(
  series: LineSeries[],
  options: { title: string; xLabel: string; yLabel: string; logX?: boolean; logY?: boolean },
): string {
  // the legend gets its own column on the right, so it never covers a curve
  const W = 700;
  const H = 320;
  const pad = { l: 64, r: 170, t: 28, b: 44 };
  const usable = (p: [number, number]) => (!options.logX || p[0] > 0) && (!options.logY || p[1] > 0);
  const all = series.flatMap((s) => s.points.filter(usable));
  const X = niceTicks(Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0])), !!options.logX);
  const Y = niceTicks(Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1])), !!options.logY);
  const scale = (v: number, ax: { lo: number; hi: number }, log: boolean) =>
    log ? Math.log10(v / ax.lo) / Math.log10(ax.hi / ax.lo) : (v - ax.lo) / (ax.hi - ax.lo);
  const sx = (x: number) => pad.l + scale(x, X, !!options.logX) * (W - pad.l - pad.r);
  const sy = (y: number) => H - pad.b - scale(y, Y, !!options.logY) * (H - pad.t - pad.b);
  const parts = [
    ...svgHeading(W, H, pad, options.title),
    ...yGridLines(Y.ticks, sy, pad.l, W - pad.r, pad.l),
    ...X.ticks.map(
      (x) =>
        `<line x1="${sx(x).toFixed(1)}" y1="${H - pad.b}" x2="${sx(x).toFixed(1)}" y2="${H - pad.b + 4}" stroke="#333"/>` +
        `<text x="${sx(x).toFixed(1)}" y="${H - pad.b + 16}" text-anchor="middle">${formatNumber(x)}</text>`,
    ),
    `<line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="#333"/>`,
    `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" stroke="#333"/>`,
    `<text x="${(W - pad.r + pad.l) / 2}" y="${H - 8}" text-anchor="middle">${escapeHtml(options.xLabel)}${options.logX ? ' (log)' : ''}</text>`,
    `<text x="14" y="${H / 2}" text-anchor="middle" transform="rotate(-90 14 ${H / 2})">${escapeHtml(options.yLabel)}${options.logY ? ' (log)' : ''}</text>`,
  ];
  series.forEach((s, i) => {
    const color = COLORS[(s.color ?? i) % COLORS.length];
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    const d = s.points
      .filter(usable)
      .map((p, k) => `${k === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`)
      .join('');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.8"${dash}/>`);
    const ly = pad.t + 16 * (i + 1);
    parts.push(
      `<line x1="${W - pad.r + 12}" y1="${ly - 4}" x2="${W - pad.r + 32}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${dash}/>`,
    );
    parts.push(`<text x="${W - pad.r + 38}" y="${ly}" fill="#222">${escapeHtml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/**
 * A grouped bar chart of ratios as inline SVG: one group per label, one bar per series, on a log axis so 0.5×
 * and 2× sit equally far from the reference line, with bars growing from that line (down = below it).
 */
export function svgBarChart(
  labels: string[],
  series: { name: string; values: (number | undefined)[] }[],
  options: {
    title: string;
    yLabel: string;
    reference?: number;
    referenceName?: string;
    /** The values the axis must cover (default: this chart's): charts drawn side by side share one scale. */
    range?: [number, number];
  },
): string {
  const W = 580;
  const H = 300;
  const pad = { l: 56, r: 92, t: 28, b: 50 };
  const ref = options.reference;
  const all = series.flatMap((s) => s.values).filter((v): v is number => v !== undefined && v > 0);
  // a little room beyond the extreme bars, so none ends exactly on the frame
  const [lo, hi] = options.range ?? [Math.min(...all), Math.max(...all)];
  const Y = niceTicks(Math.min(lo, ref ?? lo) / 1.15, Math.max(hi, ref ?? hi) * 1.15, true);
  const sy = (v: number) =>
    H - pad.b - (Math.log10(v / Y.lo) / Math.log10(Y.hi / Y.lo)) * (H - pad.t - pad.b);
  const groupW = (W - pad.l - pad.r) / Math.max(labels.length, 1);
  const barW = Math.min(22, (groupW * 0.8) / Math.max(series.length, 1));
  const parts = [
    ...svgHeading(W, H, pad, options.title),
    ...yGridLines(Y.ticks, sy, pad.l - 3, W - pad.r, pad.l),
    `<line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="#333"/>`,
    `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" stroke="#333"/>`,
    `<text x="14" y="${(H - pad.b + pad.t) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(H - pad.b + pad.t) / 2})">${escapeHtml(options.yLabel)} (log)</text>`,
  ];
  labels.forEach((label, g) => {
    const cx = pad.l + groupW * (g + 0.5);
    // two-line labels ("shape" / "N = …") stay readable without rotating them
    const [first, second] = label.split('\n');
    parts.push(
      `<text x="${cx.toFixed(1)}" y="${H - pad.b + 16}" text-anchor="middle">${escapeHtml(first)}</text>`,
    );
    if (second)
      parts.push(
        `<text x="${cx.toFixed(1)}" y="${H - pad.b + 30}" text-anchor="middle">${escapeHtml(second)}</text>`,
      );
    series.forEach((s, i) => {
      const v = s.values[g];
      const x = cx - (series.length * barW) / 2 + i * barW;
      if (v === undefined || !(v > 0)) return;
      const top = sy(v);
      const base = ref !== undefined ? sy(ref) : H - pad.b;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${Math.min(top, base).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${Math.max(Math.abs(base - top), 1).toFixed(1)}" fill="${COLORS[i % COLORS.length]}"><title>${escapeHtml(`${s.name}, ${label.replace('\n', ', ')}: ${v}`)}</title></rect>`,
      );
    });
  });
  if (ref !== undefined)
    parts.push(
      `<line x1="${pad.l}" y1="${sy(ref).toFixed(1)}" x2="${W - pad.r}" y2="${sy(ref).toFixed(1)}" stroke="#000" stroke-dasharray="4 3"/>`,
    );
  series.forEach((s, i) => {
    const ly = pad.t + 16 * (i + 1);
    parts.push(
      `<rect x="${W - pad.r + 12}" y="${ly - 9}" width="12" height="10" fill="${COLORS[i % COLORS.length]}"/>`,
    );
    parts.push(`<text x="${W - pad.r + 30}" y="${ly}" fill="#222">${escapeHtml(s.name)}</text>`);
  });
  if (ref !== undefined) {
    const ly = pad.t + 16 * (series.length + 1);
    parts.push(
      `<line x1="${W - pad.r + 12}" y1="${ly - 4}" x2="${W - pad.r + 24}" y2="${ly - 4}" stroke="#000" stroke-dasharray="4 3"/>`,
    );
    parts.push(
      `<text x="${W - pad.r + 30}" y="${ly}" fill="#222">${escapeHtml(options.referenceName ?? String(ref))}</text>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

type Cell = string | number;
// a cell that reads as a quantity: numbers, with an optional unit sign; aligned right, text aligned left
const NUMERIC = /^[-−]?[\d,.]+(e[-+]?\d+)?\s?[%×]?$/;
const cellText = (c: Cell) => (typeof c === 'number' ? formatNumber(c) : c);

/** A table in HTML (numeric columns right-aligned) and in Markdown (for the README). */
function table(head: string[], rows: Cell[][]): { html: string; markdown: string } {
  const numeric = head.map((_, k) =>
    rows.every((r) => {
      const t = cellText(r[k]);
      return t === '–' || NUMERIC.test(t);
    }),
  );
  const cls = (k: number) => (numeric[k] ? ' class="num"' : '');
  const html = `<table><tr>${head.map((h, k) => `<th${cls(k)}>${escapeHtml(h)}</th>`).join('')}</tr>${rows
    .map((r) => `<tr>${r.map((c, k) => `<td${cls(k)}>${escapeHtml(cellText(c))}</td>`).join('')}</tr>`)
    .join('')}</table>`;
  // padded the way the repository's formatter (Biome) pads Markdown tables, so a regenerated README block is
  // already formatted: columns as wide as their widest cell (at least 3), numbers right-aligned
  const texts = rows.map((r) => r.map(cellText));
  const width = head.map((h, k) => Math.max(3, h.length, ...texts.map((r) => r[k].length)));
  const pad = (t: string, k: number) => (numeric[k] ? t.padStart(width[k]) : t.padEnd(width[k]));
  const markdown = [
    `| ${head.map(pad).join(' | ')} |`,
    `| ${width.map((w, k) => (numeric[k] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`,
    ...texts.map((r) => `| ${r.map(pad).join(' | ')} |`),
  ].join('\n');
  return { html, markdown };
}

const percent = (x: number, digits = 1) => `${(100 * x).toFixed(digits)}%`;

/** One section per suite: its plots and tables, in HTML and (tables and notes) Markdown. */
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
      const ranks = [...new Set<number>(r.runs.map((x: Json) => x.rank))];
      const plot = svgLinePlot(
        // one colour per rank, solid for PrecGD and dashed for GD: the two GD curves lie on top of each other
        r.runs.map((x: Json) => ({
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
        r.runs.map((x: Json) => [x.method, x.rank, x.finalRelativeError, x.seconds]),
      );
      return {
        title: 'Convergence: PrecGD vs GD (the paper’s figure)',
        html: plot + t.html,
        markdown: t.markdown,
      };
    }
    case 'quality-cpu': {
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
          [
            'dense',
            '0%',
            '100%',
            r.dense.inDomain.perplexity,
            0,
            '100%',
            r.dense.mobyDick.perplexity,
            0,
            '–',
          ],
          ...r.results.map((x: Json) => [
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
    case 'cpu-native':
      return renderCpuNative(r);
    case 'kernels':
      return renderKernels(r);
    case 'gpu-layers':
      return renderGpuLayers(r);
    case 'scratch-cpu': {
      const vit = table(
        ['layers', 'parameters', 'linear FLOPs vs dense', 'test accuracy', 's/step'],
        r.vit.results.map((x: Json) => [
          x.kind,
          x.parameters,
          percent(x.blockLinearFlopsVsDense),
          percent(x.testAccuracy, 2),
          x.secondsPerStep,
        ]),
      );
      const gpt =
        r.gpt &&
        table(
          ['layers', 'parameters', 'validation loss', 'perplexity (bytes)', 's/step'],
          r.gpt.results.map((x: Json) => [
            x.kind,
            x.parameters,
            x.validationLoss,
            x.perplexity,
            x.secondsPerStep,
          ]),
        );
      const vitNote = `ViT trained from scratch on ${r.vit.data}, ${r.vit.training.steps} steps of ${r.vit.training.batchSize} (${formatNumber(r.vit.training.epochs)} epochs; ${r.engine.name}): BLAST ${formatNumber(r.vit.blastMinusDensePoints)} points from dense (target: within 0.5).`;
      const gptNote =
        r.gpt &&
        `Small GPT trained from scratch on ${r.gpt.data}; ${r.gpt.tokenizer}; ${r.gpt.training.steps} steps.`;
      return {
        title: `Training from scratch with structured layers (project-trained models)${r.full ? ', --full: the 10-epoch ViT' : ''}`,
        html: `<p>${escapeHtml(vitNote)}</p>${vit.html}${gpt ? `<p>${escapeHtml(gptNote)}</p>${gpt.html}` : ''}`,
        markdown: [vitNote, vit.markdown, ...(gpt ? [gptNote, gpt.markdown] : [])].join('\n\n'),
      };
    }
    case 'train-step-cpu': {
      const ratio = (v: number) => `${formatNumber(v)}×`;
      const parts = r.results.map((m: Json) => {
        const t = table(
          ['decoder linears', 'parameters', 'linear FLOPs', 'step s', 'step vs dense', 'linears vs dense'],
          m.students.map((x: Json) => [
            x.name,
            x.linearParameters,
            ratio(x.linearFlopsVsDense),
            x.stepSeconds,
            ratio(x.stepVsDense),
            ratio(x.linearsVsDense),
          ]),
        );
        const c = m.config;
        const note =
          `${m.model} (width ${c.hiddenSize}, MLP ${c.intermediateSize}, ${c.numLayers} layers, vocabulary ` +
          `${formatNumber(c.vocabSize)}), ${m.batch} × ${m.seqLen} tokens a step: the decoder linears are ` +
          `${percent(m.denseLinearShare)} of the dense step, so no structure can go below ${ratio(m.amdahlBound)}.`;
        return { html: `<p>${escapeHtml(note)}</p>${t.html}`, markdown: `${note}\n\n${t.markdown}` };
      });
      const head = `Training step (forward, distillation loss, backward, AdamW) on ${r.engine}, students at 50% of the decoder-linear parameters; target: ${r.target}.`;
      const names = Object.keys(r.layerSweep[0].vsDense);
      const sweep = table(
        ['width', ...names.map((n) => `${n} vs dense`), 'dense ms'],
        r.layerSweep.map((x: Json) => [
          `${x.width}²`,
          ...names.map((n) => ratio(x.vsDense[n])),
          formatNumber(1000 * x.seconds.dense),
        ]),
      );
      const sweepNote = `One square linear, forward + backward on ${r.layerSweep[0].tokens} tokens, by width: where each structure starts to pay for itself on this engine.`;
      return {
        title: 'Training step time by structure',
        html: `<p>${escapeHtml(head)}</p>${parts.map((p: Json) => p.html).join('')}<p>${escapeHtml(sweepNote)}</p>${sweep.html}`,
        markdown: [head, ...parts.map((p: Json) => p.markdown), sweepNote, sweep.markdown].join('\n\n'),
      };
    }
    case 'retrain-cpu': {
      const t = table(
        [
          'method',
          'linear params',
          'dense ppl',
          'compressed ppl',
          're-trained ppl',
          'gap closed',
          'gap closed (NLL)',
          'steps',
          'train s',
        ],
        r.runs.map((x: Json) => [
          x.method,
          x.linearParameters,
          x.perplexity.dense,
          x.perplexity.compressed,
          x.perplexity.retrained,
          percent(x.perplexity.gapClosed),
          percent(x.perplexity.gapClosedNll),
          x.training.steps,
          x.training.trainingSeconds,
        ]),
      );
      const s = r.stepTime;
      const first = r.runs[0];
      const note =
        `Distillation from the dense model (KL on logits) on ${first.training.text}; scored on ${first.perplexity.text}. ` +
        `Training step (batch ${s.batch} × ${s.seqLen} tokens, forward + backward) on ${r.engine}: BLAST ` +
        `${formatNumber(s.blastOverDenseStep)}× the dense model's time (target ≤ ${r.targets.blastOverDenseStepTime}×; ` +
        'the training step time section shows why not at this width, and where it is met).';
      return {
        title: `Re-training after compression: ${r.model}`,
        html: `<p>${escapeHtml(note)}</p>${t.html}`,
        markdown: `${note}\n\n${t.markdown}`,
      };
    }
    default:
      return {
        title: String(r.suite),
        html: `<pre>${escapeHtml(JSON.stringify(r, null, 2))}</pre>`,
        markdown: '',
      };
  }
}

/** The GPU layer benchmark: our kernels beside the PyTorch reference, the GEMM, the model, the targets. */
/** An anchor's figure, or why it was not measured (kept short in a table cell). */
const anchorCell = (v: Json, unit = ''): Cell =>
  typeof v === 'number' ? `${formatNumber(v)}${unit}` : v?.reason ? 'not measured' : '–';

function renderCpuNative(r: Json): { title: string; html: string; markdown: string } {
  const title = 'Native CPU backend against the anchors (issue 16)';
  if (!r.available) {
    const text = `Not measured: the native backend is not available here (${r.reason}).`;
    return { title, html: `<p>${escapeHtml(text)}</p>`, markdown: text };
  }
  const gemm = table(
    [
      'n (square GEMM)',
      'native 1 thread GFLOP/s',
      'native 2 threads',
      'NumPy 1 thread',
      'NumPy 2 threads',
      'native/NumPy 1 thread',
      'TS reference',
    ],
    r.gemm.map((g: Json) => [
      `${g.n}³`,
      g.native1Thread,
      g.native2Threads,
      anchorCell(g.numpy1Thread),
      anchorCell(g.numpy2Threads),
      g.vsNumpy1Thread === null ? '–' : `${formatNumber(g.vsNumpy1Thread)}×`,
      g.reference ?? '–',
    ]),
  );
  const layers = table(
    ['threads', 'N', 'dense ms', 'BLAST ms', 'BLAST vs dense', 'onnxruntime ms', 'dense vs onnxruntime'],
    r.layers.results.map((x: Json) => [
      x.threads,
      x.N,
      x.denseMs,
      x.blastMs,
      `${formatNumber(x.blastVsDense)}×`,
      x.onnxruntimeMs === undefined ? '–' : anchorCell(x.onnxruntimeMs),
      x.denseVsOnnxruntime === undefined ? '–' : `${formatNumber(x.denseVsOnnxruntime)}×`,
    ]),
  );
  const d = r.decode;
  const decode = table(
    ['model', 'threads', 'tokens', 'tokens/s'],
    [
      ...d.results.map((x: Json) => [x.model, x.threads, x.tokens, x.tokensPerSecond]),
      ...d.llama2c.map((a: Json) => [
        'llama2.c run.c (dense)',
        a.threads,
        d.steps,
        a.measured ? formatNumber(a.tokensPerSecond) : 'not measured',
      ]),
    ],
  );
  const notMeasured = [
    ...r.gemm.flatMap((g: Json) => [g.numpy1Thread, g.numpy2Threads]),
    ...r.layers.results.map((x: Json) => x.onnxruntimeMs),
    ...d.llama2c,
  ]
    .filter((v: Json) => v && typeof v === 'object' && v.measured === false)
    .map((v: Json) => v.reason);
  const notes = [
    `Engines: ${r.backends.native1Thread.engine}; ${r.backends.native2Threads.engine}; the reference is ${r.backends.reference.engine}.`,
    `Layer ${r.layers.dim}², BLAST b=${r.layers.blocks}, r=${r.layers.rank} (${percent(r.layers.blastParameterShare)} of the dense parameters); dense is x·Wᵀ, onnxruntime-node runs the same MatMul on the same thread count.`,
    `stories15M greedy decode, ${d.steps} tokens, tokens/s after the first (as run.c counts): dense native vs llama2.c on 1 thread ${d.denseVsLlama2c1Thread === null ? 'not measured' : `${formatNumber(d.denseVsLlama2c1Thread)}×`}; BLAST-50% (decoder linears, 16 blocks) vs dense native ${formatNumber(d.blastVsDense1Thread)}× on 1 thread, ${formatNumber(d.blastVsDense2Threads)}× on 2; native vs the TypeScript reference ${formatNumber(d.nativeVsReference)}×; native greedy tokens ${d.nativeMatchesReference ? 'equal' : 'DIFFER FROM'} the reference's.`,
    `Memory: RSS over ${r.memory.steps} decode steps ${r.memory.rssMiB[Math.min(1, r.memory.rssMiB.length - 1)]} → ${r.memory.rssMiB.at(-1)} MiB (${percent(r.memory.growth)}).`,
    ...(r.factorize
      ? [
          `Factorization 1024², b=16, r=256 on native (2 threads): faithful PrecGD ${r.factorize.faithful.seconds} s to error ${r.factorize.faithful.relativeError}; the fast solver reaches it in ${r.factorize.fastSecondsToFaithfulError ?? '–'} s (the TypeScript reference's fast solver: ${r.factorize.referenceFastSecondsToError} s).`,
        ]
      : []),
    ...[...new Set(notMeasured)].map((why) => `Not measured: ${why}.`),
  ];
  return {
    title,
    html: `${gemm.html}${layers.html}${decode.html}${notes.map((n) => `<p>${escapeHtml(n)}</p>`).join('')}`,
    markdown: [gemm.markdown, layers.markdown, decode.markdown, ...notes].join('\n\n'),
  };
}

function renderGpuLayers(r: Json): { title: string; html: string; markdown: string } {
  const us = (s: number | undefined) => (s === undefined ? '–' : Number((s * 1e6).toPrecision(3)));
  const torchRow = (x: Json, dtype: string) =>
    r.torch.results?.find((t: Json) => t.layer === x.layer && t.tokens === x.tokens && t.dtype === dtype)
      ?.seconds;
  const layers = table(
    [
      'backend',
      'layer',
      'N',
      'dense µs',
      'BLAST µs',
      'BLAST / dense',
      'low-rank / dense',
      'torch dense µs (fp32)',
      'torch BLAST ref. µs (fp32)',
      'torch BLAST ref. µs (fp16)',
      'max rel. error',
    ],
    r.layers.map((x: Json) => {
      const errors = Object.values(x.maxRelativeError as Record<string, number | null>);
      return [
        x.backend,
        x.layer,
        x.tokens,
        us(x.seconds.dense),
        us(x.seconds.blast),
        `${formatNumber(x.blastVsDense)}×`,
        `${formatNumber(x.lowRankVsDense)}×`,
        us(torchRow(x, 'float32')?.dense),
        us(torchRow(x, 'float32')?.blastReference),
        us(torchRow(x, 'float16')?.blastReference),
        errors.some((e) => e === null) ? '–' : Math.max(...(errors as number[])),
      ];
    }),
  );
  const gemm = table(
    ['backend', 'size', 'tiling', 'TFLOP/s'],
    r.gemm.map((g: Json) => [g.backend, `${g.size}³`, g.tiling, g.tflops]),
  );
  const model = table(
    ['backend', 'model', 'dense tok/s', 'BLAST tok/s', 'speed-up'],
    r.model.map((m: Json) => [
      m.backend,
      m.model,
      m.decodeTokensPerSecond.dense,
      m.decodeTokensPerSecond.blast,
      `${formatNumber(m.blastSpeedup)}×`,
    ]),
  );
  const targets = table(
    ['target', 'measured', 'goal', 'met'],
    r.targets.map((t: Json) => [
      t.name,
      t.value ?? '–',
      t.target,
      t.met === null ? `not measured${t.note ? `: ${t.note}` : ''}` : t.met ? 'yes' : 'no',
    ]),
  );
  const devices = r.backends
    .map((b: Json) => `${b.name}: ${b.available ? b.detail : `absent (${b.detail})`}`)
    .join('; ');
  const torchLine = r.torch.available
    ? `PyTorch ${r.torch.torch} on ${r.torch.device}`
    : `PyTorch reference absent: ${r.torch.reason}`;
  const note = `${r.quick ? 'Quick run (small shapes). ' : ''}${devices}. ${torchLine}. ${r.timing}.`;
  const parts = [layers, gemm, ...(r.model.length ? [model] : []), targets];
  return {
    title: 'GPU layers: our kernels vs dense vs the PyTorch reference',
    html: `<p>${escapeHtml(note)}</p>${parts.map((p) => p.html).join('')}`,
    markdown: `${note}\n\n${parts.map((p) => p.markdown).join('\n\n')}`,
  };
}

const shapeLabel = (m: number, n: number) => (m === n ? `${m}²` : `${m}×${n}`);

function renderKernels(r: Json): { title: string; html: string; markdown: string } {
  const backends = table(
    ['backend', 'loaded', 'what answered / why not'],
    r.backends.map((b: Json) => [
      b.name,
      b.available ? (b.software ? 'yes, software' : 'yes') : 'no',
      b.detail,
    ]),
  );
  const ran = r.results.filter((x: Json) => !x.skipped);
  const skipped = r.results.filter((x: Json) => x.skipped);
  const worstError = (x: Json) => {
    const errors = Object.values(x.maxRelativeError as Record<string, number | null>);
    return errors.some((e) => e === null) ? 'is the reference' : Math.max(...(errors as number[]));
  };
  const ratio = (v: number) => `${formatNumber(v)}×`;
  // one table per layer shape, backends and N as rows: the comparison a reader makes is within a shape
  const perShape = r.shapes.map((s: Json) => {
    const rows = ran.filter((x: Json) => x.layer === s.name);
    const caption =
      `${s.name}: b=${s.blocks}; BLAST r=${s.blastRank}, low-rank r=${s.lowRankRank}, Monarch r′=${s.monarchBlockRank}; ` +
      `parameters vs dense: BLAST ${percent(s.parameters.blast / s.parameters.dense)}, ` +
      `low-rank ${percent(s.parameters.lowRank / s.parameters.dense)}, Monarch ${percent(s.parameters.monarch / s.parameters.dense)}`;
    const t = table(
      ['backend', 'N', 'dense ms', 'BLAST', 'low-rank', 'Monarch', 'max rel. error', 'checked against'],
      rows.map((x: Json) => [
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
  const skippedText = skipped.map((x: Json) => `${x.backend} ${x.layer} N=${x.tokens}: ${x.skipped}`);
  // one scale for every backend's chart, so bars compare across charts too
  const allRatios = ran.flatMap((x: Json) => [
    x.timeVsDense.blast,
    x.timeVsDense.lowRank,
    x.timeVsDense.monarch,
  ]);
  const range: [number, number] = [Math.min(...allRatios), Math.max(...allRatios)];
  const plots = [...new Set<string>(ran.map((x: Json) => x.backend))].map((backend) => {
    const mine = ran.filter((x: Json) => x.backend === backend);
    const software = r.backends.find((b: Json) => b.name === backend)?.software;
    return svgBarChart(
      mine.map((x: Json) => `${shapeLabel(x.shape[0], x.shape[1])}\nN=${x.tokens}`),
      [
        { name: 'BLAST', values: mine.map((x: Json) => x.timeVsDense.blast) },
        { name: 'low-rank', values: mine.map((x: Json) => x.timeVsDense.lowRank) },
        { name: 'Monarch', values: mine.map((x: Json) => x.timeVsDense.monarch) },
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
    ? `<p>Not run:</p><ul>${skippedText.map((s: string) => `<li>${escapeHtml(s)}</li>`).join('')}</ul>`
    : '';
  // the README gets the reference's headline shape (method.md §6); the HTML report has every shape
  const headline =
    perShape.find((p: Json) => p.shape.m === 4096 && p.shape.n === 4096) ?? perShape[perShape.length - 1];
  return {
    title: `Kernels: dense vs BLAST vs low-rank vs Monarch per backend${r.quick ? ' (quick run)' : ''}`,
    html:
      backends.html +
      `<div class="charts">${plots.join('\n')}</div>` +
      notes.map((n) => `<p class="note">${escapeHtml(n)}</p>`).join('') +
      perShape.map((p: Json) => `<h3>${escapeHtml(p.caption)}</h3>${p.table.html}`).join('\n') +
      skippedHtml,
    markdown: [
      backends.markdown,
      ...(headline ? [`${headline.caption}:`, headline.table.markdown] : []),
      ...(skippedText.length ? [`Not run: ${skippedText.join('; ')}.`] : []),
      `${notes[0]} Every shape (288², 768×288, 1024², 4096²) is in the HTML report.`,
    ].join('\n\n'),
  };
}

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

/** Where a result came from, as the suites record it (node version, backend, quick runs). */
function provenance(r: Json): string {
  const parts = [r.node && `node ${r.node}`, r.backend && `backend ${r.backend}`, r.quick && 'quick run'];
  return parts.filter(Boolean).join(' · ');
}

export function renderReport(results: Json[]): { html: string; markdown: string } {
  // a suite's --full result sits beside its default one: its anchor gets a suffix so both links work
  const sections = results.map((r) => ({
    ...renderSuite(r),
    suite: `${r.suite}${r.full ? '-full' : ''}`,
    meta: provenance(r),
  }));
  const toc = sections.map((s) => `<li><a href="#${slug(s.suite)}">${escapeHtml(s.title)}</a></li>`).join('');
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>blastkit benchmarks</title>
<style>
body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}
h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:0.2em}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
svg{display:block;margin:0.5em 0;max-width:100%;height:auto}
.charts{display:flex;flex-wrap:wrap;gap:0 1.5em}h3{font-size:15px;margin:1.5em 0 0}
.meta{color:#666;font-size:13px;margin-top:-0.5em}.note{color:#444;font-size:14px;max-width:60em}
</style>
</head><body><h1>blastkit benchmarks</h1>
<p>Generated by <code>apps/bench/src/report.ts</code> from the suites' JSON results; every table is the suite's own
numbers, and ratios are taken within one run.</p>
<ul>${toc}</ul>
${sections
  .map(
    (s) =>
      `<h2 id="${slug(s.suite)}">${escapeHtml(s.title)}</h2>\n${s.meta ? `<p class="meta">${escapeHtml(s.meta)}</p>\n` : ''}${s.html}`,
  )
  .join('\n')}
</body></html>\n`;
  const markdown = sections
    .filter((s) => s.markdown)
    .map((s) => `**${s.title}**\n\n${s.markdown}`)
    .join('\n\n');
  return { html, markdown };
}

/** Writes beside the target, then renames: a reader never sees half a report or half a README. */
function writeAtomic(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
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
  writeAtomic(out, html);
  if (readme) {
    const text = readFileSync(readme, 'utf8');
    const start = '<!-- bench:start -->';
    const end = '<!-- bench:end -->';
    const i = text.indexOf(start);
    const j = text.indexOf(end);
    if (i < 0 || j < i) throw new Error(`${readme}: no ${start} … ${end} block to replace`);
    writeAtomic(readme, `${text.slice(0, i + start.length)}\n${markdown}\n${text.slice(j)}`);
  }
  process.stderr.write(`wrote ${out}${readme ? ` and the results block of ${readme}` : ''}\n`);
}
