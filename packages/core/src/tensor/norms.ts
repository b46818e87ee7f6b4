import type { Tensor } from './tensor.js';

/** Relative Frobenius distance ‖approx − reference‖ / ‖reference‖ in float64 (the absolute one if ‖reference‖ = 0). */
export function relativeFrobeniusError(approx: Tensor, reference: Tensor): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < reference.size; i++) {
    const d = approx.data[i] - reference.data[i];
    num += d * d;
    den += reference.data[i] * reference.data[i];
  }
  return Math.sqrt(num / (den || 1));
}
