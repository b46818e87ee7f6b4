/**
 * A one-line progress report on stderr (stdout stays clean for `--json`): redrawn in place on a terminal,
 * and at most every 10% (plus the end) when stderr is a file or pipe, so logs stay short.
 */
export class ProgressLine {
  private lastDecile = -1;
  private drawn = false;
  private readonly start = performance.now();

  constructor(
    private readonly label: string,
    private readonly write: (s: string) => void = (s) => process.stderr.write(s),
    private readonly tty: boolean = process.stderr.isTTY === true,
  ) {}

  /** Reports `done` of `total` units, with extra text such as the current error. */
  update(done: number, total: number, detail = ''): void {
    const seconds = (performance.now() - this.start) / 1000;
    const eta = done > 0 ? (seconds / done) * (total - done) : Number.NaN;
    const line =
      `${this.label}: ${done}/${total} ${detail}`.trimEnd() +
      `  ${seconds.toFixed(1)} s` +
      (done < total && Number.isFinite(eta) ? `  ETA ${formatSeconds(eta)}` : '');
    if (this.tty) {
      this.write(`\r\x1b[K${line}`);
      this.drawn = true;
      return;
    }
    const decile = Math.floor((10 * done) / total);
    if (decile > this.lastDecile || done === total) {
      this.lastDecile = decile;
      this.write(`${line}\n`);
    }
  }

  /** Ends the line on a terminal. */
  finish(): void {
    if (this.tty && this.drawn) this.write('\n');
    this.drawn = false;
  }
}

export function formatSeconds(s: number): string {
  if (s < 90) return `${s.toFixed(0)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
