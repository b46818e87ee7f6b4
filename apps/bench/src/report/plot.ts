/** The report's inline SVG plots: line plots with round ticks and grouped bar charts of ratios. */
import { escapeHtml, formatNumber } from './format.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

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

export interface LineSeries {
  name: string;
  points: readonly (readonly number[])[];
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
  const usable = (p: readonly number[]) => (!options.logX || p[0] > 0) && (!options.logY || p[1] > 0);
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
