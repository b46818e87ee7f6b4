/**
 * The compression worker: opens the page's model from the files it is sent and factorizes the selected
 * linears one by one on the CPU reference backend (deterministic: the same seed gives the CLI's factors),
 * posting each solver step and each finished matrix. The page cancels by terminating it.
 */
import { CpuBackend } from '@blastkit/core';
import { compressLinears, LLAMA_LINEAR_SUFFIXES, selectModules } from '@blastkit/models';
import type { CompressMessage, CompressRequest, FactorTensor } from './compress-protocol.js';
import { openLlama } from './model-files.js';
import { putFile } from './virtual-files.js';

const post = (message: CompressMessage, transfer: Transferable[] = []) =>
  (self as unknown as Worker).postMessage(message, transfer);

/** Every decoder linear of a Llama, layer by layer in the order the CLI selects them. */
function llamaLinears(layers: number): string[] {
  const names: string[] = [];
  for (let l = 0; l < layers; l++)
    for (const s of LLAMA_LINEAR_SUFFIXES) names.push(`model.layers.${l}.${s}`);
  return names;
}

async function run(request: CompressRequest): Promise<void> {
  for (const [path, blob] of request.files) putFile(path, blob);
  const opened = await openLlama(request.folder);
  try {
    if (opened.replacements.size > 0)
      throw new Error('this model is already compressed; load the dense model to compress it');
    const modules = selectModules(
      llamaLinears(opened.config.numLayers),
      {
        ...(request.targetModules.length ? { targetModules: request.targetModules } : {}),
        ...(request.layers.length ? { layersToTransform: request.layers } : {}),
      },
      [...LLAMA_LINEAR_SUFFIXES],
    );
    post({ type: 'plan', modules });
    const start = performance.now();
    const result = await compressLinears(opened.source, modules, {
      method: request.method,
      ratio: request.ratio,
      blocks: request.blocks,
      steps: request.steps,
      seed: request.seed,
      backend: new CpuBackend(),
      onStep: (module, step, total) => post({ type: 'step', module, step, total }),
      onMatrix: (e) =>
        post({
          type: 'matrix',
          index: e.index,
          total: e.total,
          name: e.name,
          shape: e.shape,
          rank: e.rank,
          denseParameters: e.denseParameters,
          relativeError: e.relativeError,
          seconds: e.seconds,
        }),
    });
    const transfer: Transferable[] = [];
    const factors = [...result.replacements].map(([module, matrix]) => {
      const tensors: Record<string, FactorTensor> = {};
      for (const [part, t] of Object.entries(matrix.toNamedTensors())) {
        const data = Float32Array.from(t.data);
        tensors[part] = { shape: [...t.shape], data };
        transfer.push(data.buffer);
      }
      return { module, kind: matrix.kind, tensors };
    });
    post({ type: 'done', factors, seconds: (performance.now() - start) / 1000 }, transfer);
  } finally {
    await opened.source.close();
  }
}

self.onmessage = (event: MessageEvent<CompressRequest>) => {
  run(event.data).catch((err: Error) => post({ type: 'error', message: err.message }));
};
