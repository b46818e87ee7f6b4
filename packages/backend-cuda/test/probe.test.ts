import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CudaBackend, CudaUnavailableError, createBackend, readBuildInfo } from '../src/index.js';

// (a) probe() says whether the backend can run and, when it cannot, why — specifically enough to act on.

/** Whether the dynamic loader can find a CUDA driver (libcuda.so.1) on this machine. */
function driverPresent(): boolean {
  const dirs = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  if (dirs.some((d) => existsSync(join(d, 'libcuda.so.1')))) return true;
  for (const ldconfig of ['/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    if (!existsSync(ldconfig)) continue;
    try {
      return execFileSync(ldconfig, ['-p'], { encoding: 'utf8' }).includes('libcuda.so.1');
    } catch {
      // fall through
    }
  }
  return ['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib'].some((d) =>
    existsSync(join(d, 'libcuda.so.1')),
  );
}

const probe = CudaBackend.probe();
const build = readBuildInfo();

describe('CudaBackend.probe', () => {
  it('answers synchronously with a boolean, and a reason whenever it says no', () => {
    expect(typeof probe.available).toBe('boolean');
    if (!probe.available) expect(probe.reason?.length).toBeGreaterThan(0);
  });

  if (probe.available) {
    it('names the device and its compute capability', () => {
      expect(probe.device).toMatch(/\(sm_\d+, [\d.]+ GiB\)$/);
      expect(probe.native?.cublas).toMatch(/libcublas/);
    });
    return;
  }

  it('gives a specific reason, one of the known kinds, with the underlying detail', () => {
    expect(probe.reason).toMatch(
      /^(no native build: .{8,}|native addon failed to load: .{8,}|no CUDA driver: dlopen\(libcuda\.so\.1\) failed: .+|no usable CUDA driver: cudaGetDeviceCount failed: cuda\w+ \(.+\)|no CUDA device.+|CUDA device .+ is older than .+|no cuBLAS: tried .+)$/,
    );
    expect(probe.stage).toMatch(/^(build|load|driver|device|cublas)$/);
  });

  if (build?.built && !driverPresent()) {
    // this machine: the addon is built (nvcc present) but there is no driver
    it('names the missing driver: dlopen(libcuda.so.1) failed', () => {
      expect(probe.stage).toBe('driver');
      expect(probe.reason).toMatch(/^no CUDA driver: dlopen\(libcuda\.so\.1\) failed: .*libcuda\.so\.1/);
      expect(probe.native?.runtimeVersion).toBeGreaterThanOrEqual(12000);
    });
  }

  if (build && !build.built) {
    it("names the native build's own reason for not building", () => {
      expect(probe.stage).toBe('build');
      expect(probe.reason).toBe(`no native build: ${build.reason}`);
    });
  }

  it('create() and createBackend() reject with a CudaUnavailableError carrying that reason', async () => {
    const reason = probe.reason as string;
    await expect(CudaBackend.create()).rejects.toThrow(reason);
    await expect(CudaBackend.create()).rejects.toBeInstanceOf(CudaUnavailableError);
    await expect(createBackend()).rejects.toThrow(`cuda backend unavailable: ${reason}`);
  });
});
