import { loadAddon, type NativeProbe } from './native-addon.js';

/** Whether the CUDA backend can run here, and if not, why. */
export interface CudaProbe {
  available: boolean;
  /**
   * Why not, starting with one of: "no native build: …" (with the build's own reason), "native addon failed to
   * load: …", "no CUDA driver: …", "no usable CUDA driver: …", "no CUDA device…", "CUDA device … is older
   * than …", "no cuBLAS: tried …".
   */
  reason?: string;
  /** Where it stopped. */
  stage?: 'build' | 'load' | 'driver' | 'device' | 'cublas';
  /** The device, e.g. "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)", when one was found. */
  device?: string;
  /** The addon's own report (versions, cuBLAS file, compiled architectures), when it loaded. */
  native?: NativeProbe;
}

/**
 * Checks, synchronously and without opening a context, everything the backend needs: the native build, the
 * addon loading, the driver (libcuda.so.1), a device of a compiled architecture, cuBLAS. Never throws.
 */
export function probeCuda(device = 0): CudaProbe {
  const load = loadAddon();
  if (!load.ok) {
    return {
      available: false,
      stage: load.reason.startsWith('no native build') ? 'build' : 'load',
      reason: load.reason,
    };
  }
  let native: NativeProbe;
  try {
    native = load.addon.probe(device);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { available: false, stage: 'load', reason: `native addon failed to load: probe threw: ${why}` };
  }
  if (native.available) return { available: true, device: native.device, native };
  return {
    available: false,
    stage: native.stage,
    reason: native.reason ?? 'the addon gave no reason',
    device: native.device,
    native,
  };
}
