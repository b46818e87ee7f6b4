/// <reference types="@webgpu/types" preserve="true" />
/** Which adapter to ask for: 'auto' takes the platform's default (a real GPU) and falls back to software. */
export type AdapterChoice = 'auto' | 'software';

export interface AcquiredDevice {
  device: GPUDevice;
  /**
   * The adapter in one line, e.g. 'opengles: llvmpipe… (OpenGL ES 3.2 Mesa 22.3.6)': what the backend's
   * describe() gives as `engine`.
   */
  adapter: string;
}

// dawn.node instances must stay strongly referenced for the whole process: a collected instance segfaults in
// Dawn's event processing. One per flag set, never dropped.
const nodeInstances = new Map<string, GPU>();

async function nodeGpu(flags: string[]): Promise<GPU> {
  const key = flags.join(' ');
  let gpu = nodeInstances.get(key);
  if (!gpu) {
    // Mesa's EGL needs a platform without a display server; set only when the user has not chosen one
    if (flags.includes('backend=opengles')) process.env.EGL_PLATFORM ??= 'surfaceless';
    // a dynamic import keeps the Node-only package out of browser bundles
    const webgpu = await import('webgpu');
    gpu = webgpu.create(flags);
    nodeInstances.set(key, gpu);
  }
  return gpu;
}

function describe(adapter: GPUAdapter, via: string): string {
  const info = adapter.info;
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s) => s);
  return `${via}: ${parts.join(' ')}`;
}

// Compatibility-mode defaults are small (128 invocations per workgroup, 128 MiB bindings): ask for what the
// adapter really offers of the limits the kernels touch.
const LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

async function open(adapter: GPUAdapter, via: string): Promise<AcquiredDevice> {
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMITS) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredLimits });
  return { device, adapter: describe(adapter, via) };
}

/**
 * Finds an adapter and opens a device. In a browser through navigator.gpu; in Node through the `webgpu`
 * package (Dawn): 'auto' tries Dawn's default backends (Vulkan, Metal, D3D12), then the software path;
 * 'software' goes straight to OpenGL ES through EGL in compatibility mode (Mesa's llvmpipe on a machine
 * without a GPU). Throws naming what was tried when nothing answers.
 */
export async function acquireDevice(choice: AdapterChoice = 'auto'): Promise<AcquiredDevice> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) {
    const adapter = await nav.gpu.requestAdapter(
      choice === 'software' ? { forceFallbackAdapter: true } : { powerPreference: 'high-performance' },
    );
    if (!adapter) throw new Error(`webgpu: navigator.gpu gave no adapter (asked for ${choice})`);
    return open(adapter, 'navigator.gpu');
  }
  const tried: string[] = [];
  if (choice === 'auto') {
    const gpu = await nodeGpu([]);
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (adapter) return open(adapter, 'dawn');
    tried.push("Dawn's default backends");
  }
  const gpu = await nodeGpu(['backend=opengles']);
  const adapter = await gpu.requestAdapter({ featureLevel: 'compatibility' });
  if (adapter) return open(adapter, 'dawn opengles (compatibility)');
  tried.push(`OpenGL ES through EGL (EGL_PLATFORM=${process.env.EGL_PLATFORM})`);
  throw new Error(`webgpu: no adapter found; tried ${tried.join(', then ')}`);
}
