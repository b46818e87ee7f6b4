/**
 * @blastkit/backend-cuda — the blastkit Backend interface on CUDA: a Node-API addon (built with nvcc when
 * present) with cuBLAS GEMMs and its own kernels. Optional: probe() says why it cannot run on a machine.
 */
export {
  CudaBackend,
  type CudaBackendOptions,
  CudaUnavailableError,
  createBackend,
  createCudaBackend,
  openCudaBackend,
} from './cuda-backend.js';
export { CudaHalfTensor, type HalfDtype } from './kernels/half-gemm.js';
export {
  type AddonLoad,
  addonPath,
  loadAddon,
  type NativeAddon,
  type NativeBuildInfo,
  type NativeContext,
  type NativeProbe,
  type NativeStats,
  readBuildInfo,
} from './native-addon.js';
export { type CudaProbe, probeCuda } from './probe.js';
export { CudaStorage, CudaTensor } from './runtime.js';
