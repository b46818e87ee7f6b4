/** Sums of squares for comparing a candidate's numbers with a reference's, accumulated in float64. */
export class ErrorAccumulator {
  private diff = 0;
  private ref = 0;
  private count = 0;

  /** Adds `candidate[i] − reference[i]` over the given range (default: all). */
  add(
    candidate: ArrayLike<number>,
    reference: ArrayLike<number>,
    offset = 0,
    length = reference.length - offset,
  ): void {
    for (let i = offset; i < offset + length; i++) {
      const r = reference[i];
      const d = candidate[i] - r;
      this.diff += d * d;
      this.ref += r * r;
    }
    this.count += length;
  }

  /** Mean squared difference. */
  get meanSquaredError(): number {
    return this.count === 0 ? Number.NaN : this.diff / this.count;
  }

  /** ‖candidate − reference‖ / ‖reference‖ (Frobenius); 0 when both are 0. */
  get relativeError(): number {
    if (this.ref === 0) return this.diff === 0 ? 0 : Number.POSITIVE_INFINITY;
    return Math.sqrt(this.diff / this.ref);
  }

  get values(): number {
    return this.count;
  }
}

/** Peak signal-to-noise ratio in dB, 10·log10(peak² / mse); null when the two agree exactly (mse 0). */
export function psnr(peak: number, meanSquaredError: number): number | null {
  if (meanSquaredError === 0) return null;
  return 10 * Math.log10((peak * peak) / meanSquaredError);
}

/** Indices of the k largest entries of row[offset … offset + n), largest first; lower index first on ties. */
export function topK(row: ArrayLike<number>, offset: number, n: number, k: number): number[] {
  const best: number[] = [];
  for (let j = 0; j < n; j++) {
    const v = row[offset + j];
    let at = best.length;
    while (at > 0 && row[offset + best[at - 1]] < v) at--;
    if (at < k) {
      best.splice(at, 0, j);
      if (best.length > k) best.pop();
    }
  }
  return best;
}

/** log-softmax of row[offset … offset + n) in float64. */
export function logSoftmax(row: ArrayLike<number>, offset: number, n: number): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < n; j++) max = Math.max(max, row[offset + j]);
  let sum = 0;
  for (let j = 0; j < n; j++) sum += Math.exp(row[offset + j] - max);
  const log = max + Math.log(sum);
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) out[j] = row[offset + j] - log;
  return out;
}

/** Throws the signal's reason when it has been aborted: how long evaluations stop between batches. */
export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new Error('aborted');
}
