/**
 * @blastkit/backend-webgpu — the blastkit Backend interface on WebGPU (Dawn's dawn.node in Node, navigator.gpu
 * in a browser).
 */
export { type AcquiredDevice, type AdapterChoice, acquireDevice } from './device.js';
export {
  checkTiling,
  GEMM_TILING_64,
  GEMM_TILING_128,
  GEMM_TILING_SMALL,
  type GemmTiling,
} from './kernels/gemm-tiling.js';
export { GpuTensor } from './runtime.js';
export {
  createBackend,
  createWebGpuBackend,
  WebGpuBackend,
  type WebGpuBackendOptions,
} from './webgpu-backend.js';
