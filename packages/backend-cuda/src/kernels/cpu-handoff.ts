import { type CpuHandoffAttrs, type CpuHandoffOp, cpuHandoff, Tensor } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';

/**
 * Runs `op` on the CPU reference (core's cpuHandoff): downloads the inputs (which waits for the work queued
 * before them), uploads the results as new tensors named by `names`. Synchronous, like the interface: a failure
 * (say NotPositiveDefiniteError) is thrown by the call itself, as on the CPU backend.
 */
export function handOff(
  rt: Runtime,
  op: CpuHandoffOp,
  inputs: readonly CudaTensor[],
  names: readonly string[],
  attrs: CpuHandoffAttrs = {},
): CudaTensor[] {
  return cpuHandoff(
    op,
    inputs,
    attrs,
    (t) => new Tensor(t.shape, rt.read(t)),
    (results) => {
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
    },
  );
}
