import { type Backend, CpuBackend } from '@blastkit/core';

/** Which backend the user asked for. */
export type BackendPreference = 'auto' | 'webgpu' | 'cpu';

/** The backend that answered, in a line, and why WebGPU was not used when it was not. */
export interface ChosenBackend {
  backend: Backend;
  /** e.g. 'webgpu — navigator.gpu: google swiftshader (software adapter)'. */
  line: string;
  /** Set when WebGPU was wanted ('auto' or 'webgpu') but the CPU reference answers instead. */
  fallbackReason?: string;
}

/** Why this page cannot use WebGPU, or undefined when it has an adapter. */
async function webGpuProblem(): Promise<string | undefined> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu)
    return window.isSecureContext
      ? 'this browser exposes no navigator.gpu (WebGPU is off or unsupported; Chromium on Linux needs --enable-unsafe-webgpu)'
      : 'the page is not a secure context (WebGPU needs https:// or localhost)';
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter) return 'navigator.gpu gave no adapter (no GPU, and no software adapter either)';
  return undefined;
}

/**
 * The WebGPU backend on `navigator.gpu` when it can run here (or was asked for), else the CPU reference
 * backend with the reason.
 */
export async function chooseBackend(preference: BackendPreference): Promise<ChosenBackend> {
  if (preference !== 'cpu') {
    let reason = await webGpuProblem();
    if (!reason) {
      try {
        // imported on demand: a page on the CPU path never compiles WGSL
        const { createWebGpuBackend } = await import('@blastkit/backend-webgpu');
        const backend = await createWebGpuBackend();
        const d = backend.describe();
        return { backend, line: `webgpu — ${d.engine}${d.software ? ' (software adapter)' : ''}` };
      } catch (err) {
        reason = `the WebGPU backend did not start: ${(err as Error).message}`;
      }
    }
    if (preference === 'webgpu') throw new Error(reason);
    return { backend: new CpuBackend(), line: 'cpu — TypeScript reference', fallbackReason: reason };
  }
  return { backend: new CpuBackend(), line: 'cpu — TypeScript reference (chosen)' };
}
