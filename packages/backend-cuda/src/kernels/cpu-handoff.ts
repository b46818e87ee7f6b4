import { Tensor } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';

/**
 * Runs a CPU reference kernel on device tensors: downloads the inputs (which waits for the work queued before
 * them), runs `fn`, uploads its results as new tensors. Synchronous, like the interface: a failure (say
 * NotPositiveDefiniteError) is thrown by the call itself, as on the CPU backend.
 */
export function cpuHandoff(
  rt: Runtime,
  inputs: readonly CudaTensor[],
  names: readonly string[],
  fn: (host: Tensor[]) => Tensor[],
): CudaTensor[] {
  const host = inputs.map((t) => new Tensor(t.shape, rt.read(t)));
  const results = fn(host);
  const outputs: CudaTensor[] = [];
  try {
    results.forEach((r, i) => {
      const out = rt.alloc(r.shape, names[i]);
      outputs.push(out);
      rt.write(out, r.data);
    });
  } catch (err) {
    for (const o of outputs) rt.release(o);
    throw err;
  }
  return outputs;
}
