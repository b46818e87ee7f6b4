import type { BackendTensor } from '@blastkit/core';
import type * as tf from '@tensorflow/tfjs-core';

/**
 * A tensor handle of TfjsBackend: a shape and, once computed, the tfjs tensor holding the values. Outputs
 * of operations are computed at once, except on engines without synchronous read-back (WebGPU) after a CPU
 * hand-off: there an output is computed later, in program order, and `value` is set then (`error` if that
 * failed). Handles are only valid on the backend that made them.
 */
export class TfjsTensor implements BackendTensor {
  readonly dtype = 'float32' as const;
  readonly shape: readonly number[];
  /** The values, once computed; undefined while deferred and after dispose. */
  value: tf.Tensor | undefined;
  /** Why a deferred computation failed; thrown by download and by operations that read this handle. */
  error: unknown;
  /** Set while deferred: settles once `value` or `error` is set. */
  ready: Promise<void> | undefined;
  disposed = false;

  constructor(
    shape: readonly number[],
    /** The backend that made it (handles of another backend are rejected). */
    readonly owner: object,
  ) {
    this.shape = Object.freeze([...shape]);
  }
}
