/** Number and text formatting shared by the report's plots and tables. */

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

/** Text for HTML: the three characters that would start markup, escaped. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A fraction as a percentage, e.g. 0.123 → '12.3%'. */
export const percent = (x: number, digits = 1) => `${(100 * x).toFixed(digits)}%`;
