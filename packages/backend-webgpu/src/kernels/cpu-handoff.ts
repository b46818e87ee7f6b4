import { type CpuHandoffAttrs, type CpuHandoffOp, cpuHandoff, Tensor } from '@blastkit/core';
import type { GpuTensor, Runtime } from '../runtime.js';

/**
 * Runs `op` on the CPU reference (core's cpuHandoff) into the already allocated outputs. The Backend interface
 * is synchronous and WebGPU reads back asynchronously, so this is chained: GPU work issued after it waits until
 * its results are uploaded. A failure (say NotPositiveDefiniteError) is attached to the outputs and thrown by
 * `download` of them.
 */
export function handOff(
  rt: Runtime,
  op: CpuHandoffOp,
  inputs: readonly GpuTensor[],
  outputs: readonly GpuTensor[],
  attrs: CpuHandoffAttrs = {},
): void {
  rt.enqueueAsync(async () => {
    try {
      await cpuHandoff(
        op,
        inputs,
        attrs,
        async (t) => new Tensor(t.shape, await rt.readNow(t)),
        (results) =>
          results.forEach((r, i) => {
            rt.writeNow(outputs[i], r.data);
          }),
      );
    } catch (err) {
      for (const o of outputs) o.error = err;
    }
  });
}
