import * as tf from '@tensorflow/tfjs-core';
import { withTfjsWarningsOff } from './quiet.js';

export type WebGpuProbe = { ok: true; detail: string } | { ok: false; reason: string };

// Minimal shapes of the WebGPU objects touched here (the optional packages bring no types into the build).
interface AdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string };
  limits: Record<string, number>;
  features: { has(name: string): boolean };
  requestDevice(descriptor?: object): Promise<unknown>;
}
interface GpuLike {
  requestAdapter(options?: object): Promise<AdapterLike | null>;
}
interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}
interface TfjsWebGpuModule {
  WebGPUBackend: new (device: unknown, adapterInfo?: unknown) => tf.KernelBackend;
}

// Dawn instances must stay strongly referenced for the process lifetime (a collected instance crashes Dawn
// in its event processing; see platform.md). Kept here, never dropped.
const dawnInstances: GpuLike[] = [];
let probe: Promise<WebGpuProbe> | undefined;
let probedSoftware = false;

// The limits tfjs-backend-webgpu's own device request raises to the adapter's values; compatibility-mode
// defaults (128 invocations per workgroup) are too small for its shaders.
const LIMITS = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBuffersPerShaderStage',
];

function describe(adapter: AdapterLike, via: string): string {
  const info = adapter.info ?? {};
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s) => s);
  return `${via}: ${parts.join(' ') || 'unnamed adapter'}`;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

/**
 * Registers the tfjs 'webgpu' backend on a device this package opens itself. In a browser that is
 * navigator.gpu; in Node, Dawn through the `webgpu` package, with navigator.gpu and the WebGPU globals set
 * for tfjs-backend-webgpu (it checks navigator.gpu). A hardware adapter only, unless `allowSoftware`
 * (the engine was asked for by name): then, in Node, Dawn's OpenGL ES backend in compatibility mode
 * (Mesa's llvmpipe on a machine without a GPU). Never throws; says why when no adapter answers.
 */
export function probeWebGpu(allowSoftware: boolean): Promise<WebGpuProbe> {
  // a failed hardware-only probe is retried once when software is allowed
  if (probe && !(allowSoftware && !probedSoftware)) return probe;
  const previous = probe;
  probedSoftware ||= allowSoftware;
  probe = (async () => {
    const before = previous ? await previous : undefined;
    if (before?.ok) return before;
    return probeUncached(allowSoftware);
  })();
  return probe;
}

async function probeUncached(allowSoftware: boolean): Promise<WebGpuProbe> {
  let tfwg: TfjsWebGpuModule;
  try {
    const spec = '@tensorflow/tfjs-backend-webgpu';
    tfwg = (await withTfjsWarningsOff(() => import(spec))) as TfjsWebGpuModule;
  } catch (err) {
    return { ok: false, reason: `@tensorflow/tfjs-backend-webgpu is not installed (${firstLine(err)})` };
  }
  const g = globalThis as { navigator?: { gpu?: GpuLike } };
  let adapter: AdapterLike | null = null;
  let via = 'navigator.gpu';
  const tried: string[] = [];
  if (g.navigator?.gpu) {
    adapter = await g.navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) tried.push('navigator.gpu');
  } else if (typeof process !== 'undefined' && process.versions?.node) {
    let dawn: DawnModule;
    try {
      const spec = 'webgpu';
      dawn = (await import(spec)) as DawnModule;
    } catch (err) {
      return {
        ok: false,
        reason: `the 'webgpu' package (Dawn for Node) is not installed (${firstLine(err)})`,
      };
    }
    Object.assign(globalThis, dawn.globals);
    const gpu = dawn.create([]);
    dawnInstances.push(gpu);
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    via = 'dawn';
    if (!adapter) tried.push("Dawn's GPU backends (Vulkan, Metal, D3D12)");
    if (!adapter && allowSoftware) {
      // Mesa's EGL needs a platform without a display server; set only when the user has not chosen one
      process.env.EGL_PLATFORM ??= 'surfaceless';
      const soft = dawn.create(['backend=opengles']);
      dawnInstances.push(soft);
      adapter = await soft.requestAdapter({ featureLevel: 'compatibility' });
      via = 'dawn opengles (compatibility)';
      if (!adapter) tried.push(`OpenGL ES through EGL (EGL_PLATFORM=${process.env.EGL_PLATFORM})`);
    }
    if (adapter) {
      // tfjs-backend-webgpu reads navigator.gpu to decide whether WebGPU is supported at all
      if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
      else g.navigator = { gpu };
    }
  } else {
    return { ok: false, reason: 'no navigator.gpu in this runtime' };
  }
  if (!adapter) {
    const hint = allowSoftware
      ? ''
      : ' (a software adapter is used only when the webgpu engine is asked for by name)';
    return { ok: false, reason: `no WebGPU adapter: tried ${tried.join(', then ')}${hint}` };
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMITS)
    if (adapter.limits[name] !== undefined) requiredLimits[name] = adapter.limits[name];
  const requiredFeatures = ['timestamp-query'].filter((f) => adapter.features.has(f));
  let device: unknown;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (err) {
    return { ok: false, reason: `${describe(adapter, via)}: requestDevice failed: ${firstLine(err)}` };
  }
  const info = adapter.info;
  // tfjs-backend-webgpu registers its own factory at import when navigator.gpu exists; ours reuses the device
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new tfwg.WebGPUBackend(device, info), 0);
  return { ok: true, detail: `tfjs-backend-webgpu ${tf.version_core} on ${describe(adapter, via)}` };
}
