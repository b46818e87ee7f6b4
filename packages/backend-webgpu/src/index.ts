/**
 * @blastkit/backend-webgpu — the blastkit Backend interface on WebGPU (Dawn's dawn.node in Node, navigator.gpu
 * in a browser).
 */
export { type AcquiredDevice, type AdapterChoice, acquireDevice } from './device.js';
export { GpuTensor } from './runtime.js';
export {
  createBackend,
  createWebGpuBackend,
  WebGpuBackend,
  type WebGpuBackendOptions,
} from './webgpu-backend.js';
