import * as cpuKernels from '../cpu/kernels/index.js';
import { InvalidArgumentError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * The operations accelerator backends hand off to the CPU reference: the factorizer's many small r×r solves
 * and the serial eigen/SVD iterations are latency-bound on a GPU and want float64 pivots.
 */
export const CPU_HANDOFF_OPS = ['choleskySolve', 'eigh', 'truncatedSvd'] as const;
export type CpuHandoffOp = (typeof CPU_HANDOFF_OPS)[number];

/** What a hand-off needs beyond its tensors: truncatedSvd's rank. */
export interface CpuHandoffAttrs {
  k?: number;
}

/** Each hand-off on host tensors, its outputs in the Backend interface's order (U, S, V; values, vectors). */
const REFERENCE: Record<CpuHandoffOp, (inputs: Tensor[], attrs: CpuHandoffAttrs) => Tensor[]> = {
  choleskySolve: ([A, B]) => [cpuKernels.choleskySolve(A, B)],
  eigh: ([A]) => {
    const { values, vectors } = cpuKernels.eigh(A);
    return [values, vectors];
  },
  truncatedSvd: ([A], { k }) => {
    if (k === undefined) throw new InvalidArgumentError('truncatedSvd hand-off: k is missing');
    const { U, S, V } = cpuKernels.truncatedSvd(A, k);
    return [U, S, V];
  },
};

/**
 * A CPU hand-off, the one way every backend runs an operation on the @blastkit/core reference: reads its
 * inputs to host tensors with `read`, runs the reference, and gives the results to `write`, which copies them
 * back to the device. Synchronous when `read` is (a failure such as NotPositiveDefiniteError is thrown by the
 * call), a promise when `read` returns promises (a backend that reads back asynchronously).
 */
export function cpuHandoff<T, R>(
  op: CpuHandoffOp,
  inputs: readonly T[],
  attrs: CpuHandoffAttrs,
  read: (t: T) => Tensor,
  write: (results: Tensor[]) => R,
): R;
export function cpuHandoff<T, R>(
  op: CpuHandoffOp,
  inputs: readonly T[],
  attrs: CpuHandoffAttrs,
  read: (t: T) => Promise<Tensor>,
  write: (results: Tensor[]) => R,
): Promise<R>;
export function cpuHandoff<T, R>(
  op: CpuHandoffOp,
  inputs: readonly T[],
  attrs: CpuHandoffAttrs,
  read: (t: T) => Tensor | Promise<Tensor>,
  write: (results: Tensor[]) => R,
): R | Promise<R> {
  const run = (host: Tensor[]) => write(REFERENCE[op](host, attrs));
  const host: Tensor[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const h = read(inputs[i]);
    if (h instanceof Promise) {
      // an asynchronous read-back: one input after another, as before any later device work
      return (async () => {
        host.push(await h);
        for (let j = i + 1; j < inputs.length; j++) host.push(await read(inputs[j]));
        return run(host);
      })();
    }
    host.push(h);
  }
  return run(host);
}
