import type { Tensor } from '@blastkit/core';
import type * as tf from '@tensorflow/tfjs-core';

/** Input shapes as the kernels see them. */
export type Shapes = readonly (readonly number[])[];

/**
 * One operation of the Backend interface on tfjs, as data: `shapes` checks the inputs and says what comes
 * out (so outputs can be handed out before they are computed), then either `run` computes on tfjs tensors
 * (called inside tf.tidy) or `host` computes on host tensors with the @blastkit/core CPU reference (a
 * CPU hand-off, for the factorizations tfjs has no good kernels for).
 */
export interface TfjsKernel<A = undefined> {
  readonly name: string;
  /** Checks input shapes and attributes; returns one shape per output. Throws naming the bad input. */
  shapes(inputs: Shapes, attrs: A): number[][];
  run?(inputs: tf.Tensor[], attrs: A): tf.Tensor[];
  host?(inputs: Tensor[], attrs: A): Tensor[];
}

/** A kernel with `run`: defined with its types checked. */
export function kernel<A = undefined>(
  k: TfjsKernel<A> & Required<Pick<TfjsKernel<A>, 'run'>>,
): TfjsKernel<A> {
  return k;
}

/** A CPU hand-off kernel. */
export function hostKernel<A = undefined>(
  k: TfjsKernel<A> & Required<Pick<TfjsKernel<A>, 'host'>>,
): TfjsKernel<A> {
  return k;
}
