/** The report's tables: one definition renders both the HTML table and the README's Markdown. */
import { escapeHtml, formatNumber } from './format.js';

export type Cell = string | number;
// a cell that reads as a quantity: numbers, with an optional unit sign; aligned right, text aligned left
const NUMERIC = /^[-−]?[\d,.]+(e[-+]?\d+)?\s?[%×]?$/;
const cellText = (c: Cell) => (typeof c === 'number' ? formatNumber(c) : c);

/** A table in HTML (numeric columns right-aligned) and in Markdown (for the README). */
export function table(head: string[], rows: Cell[][]): { html: string; markdown: string } {
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
