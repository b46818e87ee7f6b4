import type { CpuHandoffOp } from '@blastkit/core';
import type * as tf from '@tensorflow/tfjs-core';

/** Input shapes as the kernels see them. */
export type Shapes = readonly (readonly number[])[];

/**
 * One operation of the Backend interface on tfjs, as data: `shapes` checks the inputs and says what comes
 * out (so outputs can be handed out before they are computed), then either `run` computes on tfjs tensors
 * (called inside tf.tidy) or `handoff` names the @blastkit/core CPU reference operation that computes it on
 * host tensors (a CPU hand-off through core's cpuHandoff, for the factorizations tfjs has no kernels for).
 */
export interface TfjsKernel<A = undefined> {
  readonly name: string;
  /** Checks input shapes and attributes; returns one shape per output. Throws naming the bad input. */
  shapes(inputs: Shapes, attrs: A): number[][];
  run?(inputs: tf.Tensor[], attrs: A): tf.Tensor[];
  handoff?: CpuHandoffOp;
}

/** A kernel with `run`: defined with its types checked. */
export function kernel<A = undefined>(
  k: TfjsKernel<A> & Required<Pick<TfjsKernel<A>, 'run'>>,
): TfjsKernel<A> {
  return k;
}

/** A CPU hand-off kernel. */
export function hostKernel<A = undefined>(
  k: TfjsKernel<A> & Required<Pick<TfjsKernel<A>, 'handoff'>>,
): TfjsKernel<A> {
  return k;
}
