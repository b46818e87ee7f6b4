/** Timing helpers: warm up, then repeat until a minimum time has passed, and report the median. */

export interface Timing {
  /** Median seconds per call. */
  median: number;
  /** Fastest call, seconds. */
  min: number;
  repeats: number;
}

/** Times `fn` after `warmup` calls, repeating until `minSeconds` have passed (at least `minRepeats` times). */
export function time(
  fn: () => unknown,
  options: { warmup?: number; minSeconds?: number; minRepeats?: number } = {},
): Timing {
  const warmup = options.warmup ?? 1;
  const minSeconds = options.minSeconds ?? 0.5;
  const minRepeats = options.minRepeats ?? 3;
  for (let i = 0; i < warmup; i++) fn();
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < minRepeats || (performance.now() - start) / 1000 < minSeconds) {
    const t0 = performance.now();
    fn();
    samples.push((performance.now() - t0) / 1000);
  }
  return { median: median(samples), min: Math.min(...samples), repeats: samples.length };
}

/** The median of samples (the upper one of an even count). */
export function median(samples: readonly number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Rounds for JSON output (4 significant digits). */
export function round(x: number): number {
  return Number(x.toPrecision(4));
}

/**
 * `time` for work that finishes asynchronously (a GPU kernel is only done once its result is read back):
 * warm up, then repeat until `minSeconds` have passed, and report the median.
 */
export async function timeAsync(
  fn: () => Promise<unknown>,
  options: { warmup?: number; minSeconds?: number; minRepeats?: number; maxRepeats?: number } = {},
): Promise<Timing> {
  const warmup = options.warmup ?? 1;
  const minSeconds = options.minSeconds ?? 0.5;
  const minRepeats = options.minRepeats ?? 3;
  const maxRepeats = options.maxRepeats ?? 1000;
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  const start = performance.now();
  while (
    samples.length < minRepeats ||
    ((performance.now() - start) / 1000 < minSeconds && samples.length < maxRepeats)
  ) {
    const t0 = performance.now();
    await fn();
    samples.push((performance.now() - t0) / 1000);
  }
  return { median: median(samples), min: Math.min(...samples), repeats: samples.length };
}
