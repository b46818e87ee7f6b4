/**
 * @blastkit/backend-native — the blastkit Backend interface on the CPU as a Node-API addon: Eigen 3.4 for the
 * GEMMs and factorizations, blastkit's own C++ for the BLAST mixing step, a fused BLAST decode, Monarch,
 * attention, RoPE and the norms, over a persistent thread pool. Optional: probe() says why it cannot run.
 */
export type { BlastPath } from './kernels/products.js';
export {
  type AddonLoad,
  addonCandidates,
  loadAddon,
  type NativeAddon,
  type NativeBuildInfo,
  type NativeContext,
  type NativeInfo,
  type NativeStats,
  PLATFORM_TAG,
  readBuildInfo,
} from './native-addon.js';
export {
  createBackend,
  createNativeBackend,
  NativeBackend,
  type NativeBackendOptions,
  NativeUnavailableError,
} from './native-backend.js';
export { type NativeProbe, probeNative, resolveThreads } from './probe.js';
export { NativeStorage, NativeTensor } from './runtime.js';
