// The default sandboxed processor: BullMQ forks a child process per concurrent job slot and loads this file
// there. Models are opened from safetensors (a Hugging Face folder or one file) or llama2.c checkpoints; the
// backend by name through core's registry, with the backend packages this package can import.
import { stat } from 'node:fs/promises';
import { openBackend } from '@blastkit/core';
import { Llama2cCheckpoint, SafetensorsSource, type TensorSource } from '@blastkit/models';
import { createProcessor } from './worker.js';

/** Opens a model's weights: a folder of safetensors, a .safetensors file, or a llama2.c .bin checkpoint. */
export async function openWeights(model: string): Promise<TensorSource> {
  if ((await stat(model)).isDirectory()) return SafetensorsSource.openFolder(model);
  if (model.endsWith('.safetensors')) return SafetensorsSource.open(model);
  if (model.endsWith('.bin')) return Llama2cCheckpoint.open(model);
  throw new Error(`model '${model}': expected a folder, a .safetensors file or a llama2.c .bin checkpoint`);
}

// the worker that forked this child is gone (killed): its job's lock expires and another worker redoes it,
// so this child has nothing left to finish
process.on('disconnect', () => process.exit(1));

export default createProcessor({
  openWeights,
  openBackend: async (name) => (await openBackend(name, (pkg) => import(pkg))).backend,
});
