import { InvalidArgumentError } from '@blastkit/core';

/**
 * The TensorFlow.js engines this package can run on, best first: the TensorFlow C API with CUDA
 * (`@tensorflow/tfjs-node-gpu`), the TensorFlow C API on the CPU (`@tensorflow/tfjs-node`), WebAssembly with
 * SIMD, WebGPU, and plain JavaScript.
 */
export const TFJS_ENGINE_NAMES = ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'webgpu', 'cpu'] as const;
export type TfjsEngineName = (typeof TFJS_ENGINE_NAMES)[number];

/** The name each engine registers with tfjs-core (both native packages register 'tensorflow'). */
export const TFJS_BACKEND_NAME: Record<TfjsEngineName, string> = {
  'tfjs-node-gpu': 'tensorflow',
  'tfjs-node': 'tensorflow',
  wasm: 'wasm',
  webgpu: 'webgpu',
  cpu: 'cpu',
};

/** Environment variable with a comma-separated engine preference, read when no preference is passed. */
export const ENGINE_ENV = 'BLASTKIT_TFJS_ENGINE';

/** Checks a preference list: known names, no duplicates, not empty. */
export function parseEnginePreference(preference: readonly string[], what = 'tfjs engine preference') {
  if (preference.length === 0) {
    throw new InvalidArgumentError(`${what}: empty; expected some of ${TFJS_ENGINE_NAMES.join(', ')}`);
  }
  const out: TfjsEngineName[] = [];
  for (const raw of preference) {
    const name = raw.trim() as TfjsEngineName;
    if (!TFJS_ENGINE_NAMES.includes(name)) {
      throw new InvalidArgumentError(
        `${what}: unknown engine '${raw}', expected one of ${TFJS_ENGINE_NAMES.join(', ')}`,
      );
    }
    if (out.includes(name)) throw new InvalidArgumentError(`${what}: engine '${name}' is listed twice`);
    out.push(name);
  }
  return out;
}
