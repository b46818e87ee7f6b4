/** What long-running factorizations report as they go. */
export interface FactorizeProgress {
  /** Steps (or sweeps) done so far. */
  step: number;
  /** Steps planned (an upper bound when early stopping is on). */
  totalSteps: number;
  /** Relative Frobenius error ‖A − Â‖/‖A‖ after this step (of the weighted objective for data-aware methods). */
  relativeError: number;
  /** Seconds since the factorization started. */
  seconds: number;
}

export interface RunOptions {
  /** Called after each step with the current error. */
  onProgress?: (p: FactorizeProgress) => void;
  /** Stops the run between steps with the signal's reason. */
  signal?: AbortSignal;
}
