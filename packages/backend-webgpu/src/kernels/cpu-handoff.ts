import { Tensor } from '@blastkit/core';
import type { GpuTensor, Runtime } from '../runtime.js';

/**
 * Runs a CPU reference kernel on GPU tensors: downloads the inputs, runs `fn`, uploads the results into the
 * already allocated outputs. The Backend interface is synchronous, so this is chained: GPU work issued after
 * it waits until its results are uploaded. A failure (say NotPositiveDefiniteError) is attached to the outputs
 * and thrown by `download` of them.
 */
export function cpuHandoff(
  rt: Runtime,
  inputs: readonly GpuTensor[],
  outputs: readonly GpuTensor[],
  fn: (host: Tensor[]) => Tensor[],
): void {
  rt.enqueueAsync(async () => {
    try {
      const host: Tensor[] = [];
      for (const t of inputs) host.push(new Tensor(t.shape, await rt.readNow(t)));
      const results = fn(host);
      results.forEach((r, i) => {
        rt.writeNow(outputs[i], r.data);
      });
    } catch (err) {
      for (const o of outputs) o.error = err;
    }
  });
}
