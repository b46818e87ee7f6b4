import { describe, expect, it } from 'vitest';
import {
  BACKEND_NAMES,
  BackendUnavailableError,
  CpuBackend,
  formatBackendDescription,
  isSoftwareAdapter,
  openBackend,
} from '../src/index.js';

// The registry resolves names through the importer the application gives it (the backend packages are the
// application's optional dependencies); fakes stand in for them here.
const missing = async (pkg: string): Promise<Record<string, unknown>> => {
  throw new Error(`Cannot find package '${pkg}'`);
};

describe('backend registry', () => {
  it('auto answers with the reference when the native package cannot load, and says why', async () => {
    const opened = await openBackend('auto', missing);
    expect(opened.backend).toBeInstanceOf(CpuBackend);
    expect(opened.description).toEqual({
      name: 'cpu',
      device: 'cpu',
      engine: expect.stringMatching(/TypeScript reference/),
      software: false,
    });
    expect(opened.passedOver).toEqual([
      { name: 'native', reason: expect.stringMatching(/@blastkit\/backend-native cannot be loaded/) },
    ]);
  });

  it('auto takes the native backend when its package creates one', async () => {
    const fake = new CpuBackend();
    const describe = () => ({ name: 'native', device: 'cpu' as const, engine: 'fake', software: false });
    const importer = async (pkg: string) =>
      pkg === '@blastkit/backend-native'
        ? { createBackend: async () => Object.assign(fake, { describe }) }
        : missing(pkg);
    const opened = await openBackend('auto', importer);
    expect(opened.description.name).toBe('native');
    expect(opened.passedOver).toEqual([]);
  });

  it('names what is wrong: unknown backends, variants, packages without createBackend, failing creation', async () => {
    await expect(openBackend('fast', missing)).rejects.toThrow(
      /unknown backend 'fast' \(known: auto, native, cpu/,
    );
    await expect(openBackend('cpu:x', missing)).rejects.toThrow(/'cpu' takes no ':x' variant/);
    await expect(openBackend('tfjs:', missing)).rejects.toThrow(/empty engine after 'tfjs:'/);
    await expect(openBackend('webgpu', async () => ({}))).rejects.toThrow(/does not export createBackend/);
    const failing = async () => ({
      createBackend: async () => {
        throw new Error('no adapter');
      },
    });
    await expect(openBackend('webgpu', failing)).rejects.toThrow(BackendUnavailableError);
    await expect(openBackend('webgpu', failing)).rejects.toThrow(/not available on this machine: no adapter/);
    expect(BACKEND_NAMES).toEqual(['auto', 'native', 'cpu', 'webgpu', 'tfjs', 'cuda']);
  });

  it('tells a CPU rasterizer from a GPU', () => {
    expect(isSoftwareAdapter('opengles: llvmpipe (LLVM 15.0.6, 256 bits)')).toBe(true);
    expect(isSoftwareAdapter('vulkan: lavapipe')).toBe(true);
    expect(isSoftwareAdapter('SwiftShader Device (Subzero)')).toBe(true);
    expect(isSoftwareAdapter('vulkan: NVIDIA H100 80GB HBM3')).toBe(false);
    expect(
      formatBackendDescription({ name: 'webgpu', device: 'gpu', engine: 'llvmpipe', software: true }),
    ).toBe('webgpu (software adapter: not a GPU): llvmpipe');
  });
});
