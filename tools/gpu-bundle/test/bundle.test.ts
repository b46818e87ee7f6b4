import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleBench } from '../src/bundle.js';

const bench = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'apps', 'bench');

describe('gpu bundle', () => {
  // outside the repository, so nothing can be resolved from its node_modules: as on the GPU machine
  const out = join(mkdtempSync(join(tmpdir(), 'blastkit-gpu-bundle-')), 'bundle');
  afterAll(() => rmSync(dirname(out), { recursive: true, force: true }));

  it('packs the bench into a folder under the device tool’s 64 MiB that runs gpu-layers with no node_modules', async () => {
    const r = await bundleBench(bench, out);
    expect(r.bytes).toBeLessThan(48 * 2 ** 20); // leaves room for the repository and the loader .debs
    for (const f of ['main.js', 'run.sh', 'python/torch_layers.py', 'node_modules/webgpu/index.js'])
      expect(existsSync(join(out, f)), f).toBe(true);
    const run = spawnSync(join(out, 'run.sh'), ['gpu-layers', '--quick'], {
      cwd: dirname(out),
      encoding: 'utf8',
      // no Python with torch here: the result must say so rather than fail
      env: { PATH: '/usr/bin:/bin', HOME: dirname(out), BLASTKIT_PYTHON: '/nonexistent/python' },
      timeout: 200_000,
    });
    expect(run.status, run.stderr.slice(-2000)).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.suite).toBe('gpu-layers');
    expect(result.backends[0]).toMatchObject({ name: 'webgpu', available: true });
    expect(result.layers.length).toBe(2);
    for (const row of result.layers) expect(row.maxRelativeError.blast).toBeLessThan(1e-5);
    expect(result.torch.available).toBe(false);
    // the CUDA backend travels too: where this machine built its addon, the bundled copy loads and the probe
    // gets as far as the missing driver; otherwise it says there is no native build
    const built = existsSync(
      join(bench, '..', '..', 'packages', 'backend-cuda', 'dist', 'native', 'blastkit_cuda.node'),
    );
    expect(result.backends[1]).toMatchObject({ name: 'cuda', available: false });
    expect(result.backends[1].detail).toMatch(built ? /no CUDA driver/ : /no native build/);
  });

  it('runs the backend conformance suite without vitest: all of it passes on WebGPU, CUDA says why it cannot run', () => {
    // uses the bundle the first test wrote
    const run = spawnSync(join(out, 'run.sh'), ['conformance', 'webgpu', 'cuda'], {
      cwd: dirname(out),
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin', HOME: dirname(out) },
      timeout: 200_000,
    });
    expect(run.status).toBe(1); // CUDA cannot open here
    const report = JSON.parse(run.stdout);
    expect(report.webgpu.failed, report.webgpu.failures.join('\n')).toBe(0);
    expect(report.webgpu.passed).toBeGreaterThan(180);
    expect(report.webgpu.device).toMatch(/opengles/);
    // llvmpipe is no GPU: the report and stderr say so (alone, the run would exit 2: see conformance-main.ts)
    expect(report.webgpu.software).toBe(true);
    expect(run.stderr).toMatch(/webgpu: not a GPU: the adapter is a software rasterizer/);
    expect(report.cuda.passed).toBe(0);
    expect(report.cuda.failures).toHaveLength(1);
    expect(report.cuda.failures[0]).toMatch(/cuda backend unavailable/);
  });
});
