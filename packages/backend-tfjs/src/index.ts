/**
 * @blastkit/backend-tfjs — the blastkit Backend interface on TensorFlow.js, on the best engine present:
 * tfjs-node-gpu, tfjs-node, WebAssembly (SIMD), WebGPU or plain JavaScript.
 */
export {
  ENGINE_ENV,
  parseEnginePreference,
  TFJS_BACKEND_NAME,
  TFJS_ENGINE_NAMES,
  type TfjsEngineName,
} from './engine/engine-names.js';
export { defaultStagedDir, NATIVE_PACKAGE, STAGED_DIR_ENV, stagedDirs } from './engine/native.js';
export {
  currentTfjsEngine,
  formatTfjsEngineReport,
  selectTfjsEngine,
  type TfjsEngine,
  type TfjsEngineReport,
  type TfjsEngineStatus,
  tfjsEngineReport,
} from './engine/select.js';
export * as tfjsKernels from './kernels/index.js';
export { createBackend, TfjsBackend, type TfjsBackendOptions } from './tfjs-backend.js';
export { TfjsTensor } from './tfjs-tensor.js';
