#!/usr/bin/env node
/**
 * `node conformance.js [webgpu] [cuda]` (in the bundle: `run.sh conformance …`): runs the backend conformance
 * suite of @blastkit/core/test — the PyTorch goldens, the random cross-checks against the CPU reference and
 * the bad-input checks — on the named backends (default: both) on the platform's default adapter/device,
 * without vitest. Prints one line per test on stderr, then JSON {backend: {passed, failed, failures}} on
 * stdout; exits 1 when any test failed or a backend could not be opened. A WebGPU adapter that is a CPU
 * rasterizer (llvmpipe, lavapipe, SwiftShader…) is marked `software: true` and the run exits 2: on the GPU
 * machine that means the GPU was not reached, which a green conformance run must not hide
 * (BLASTKIT_ALLOW_SOFTWARE_ADAPTER=1 accepts it, for a check of the bundle itself off a GPU).
 */
import { type Backend, isSoftwareAdapter } from '@blastkit/core';
import { describeBackendConformance } from '@blastkit/core/test';
import { runCollected } from './mini-vitest.js';

const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['webgpu', 'cuda'];
const details: Record<string, string> = {};

async function open(name: string): Promise<Backend> {
  if (name === 'webgpu') {
    const { WebGpuBackend } = await import('@blastkit/backend-webgpu');
    const be = await WebGpuBackend.create();
    details[name] = be.describe().engine;
    return be;
  }
  if (name === 'cuda') {
    const { CudaBackend } = await import('@blastkit/backend-cuda');
    const be = await CudaBackend.create();
    details[name] = be.describe().engine;
    return be;
  }
  throw new Error(`unknown backend '${name}' (known: webgpu, cuda)`);
}

for (const name of names) describeBackendConformance({ name, createBackend: () => open(name) });
const outcomes = await runCollected((line) => process.stderr.write(`${line}\n`));
const report: Record<
  string,
  { device?: string; software?: boolean; passed: number; failed: number; failures: string[] }
> = {};
for (const name of names) {
  const mine = outcomes.filter((o) => o.name.startsWith(`backend conformance: ${name} >`));
  const failing = mine.filter((o) => !o.ok);
  // a backend that does not open fails every test with the same reason: say it once
  const opening = failing.filter((o) => o.error?.startsWith('beforeAll failed'));
  report[name] = {
    device: details[name],
    software: details[name] === undefined ? undefined : isSoftwareAdapter(details[name]),
    passed: mine.length - failing.length,
    failed: failing.length,
    failures: [
      ...(opening.length > 0 ? [`all ${opening.length} tests: ${opening[0].error}`] : []),
      ...failing.filter((o) => !opening.includes(o)).map((o) => `${o.name}: ${o.error}`),
    ],
  };
}
const failed = Object.values(report).reduce((n, r) => n + r.failed, 0);
const software = Object.entries(report).filter(([, r]) => r.software);
// written before the exit below, and waited for: on a pipe, process.exit would drop what is still queued
const warning = software
  .map(([name, r]) => `${name}: not a GPU: the adapter is a software rasterizer (${r.device})\n`)
  .join('');
if (warning) await new Promise<void>((done) => process.stderr.write(warning, () => done()));
const refuseSoftware = software.length > 0 && !process.env.BLASTKIT_ALLOW_SOFTWARE_ADAPTER;
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`, () =>
  process.exit(failed > 0 ? 1 : refuseSoftware ? 2 : 0),
);
