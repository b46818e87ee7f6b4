import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { probeNative } from '../src/engine/native.js';
import { selectTfjsEngine, tfjsEngineReport } from '../src/index.js';

/**
 * How a staged folder is searched and what is said when what is there cannot be used. The folders here are
 * fakes (a package.json and a script, no TensorFlow): each native engine is probed once per process, so
 * each case uses one of the two packages.
 */
function fakeStage(pkg: string, files: { coreVersion: string; main: string }): string {
  const dir = mkdtempSync(join(tmpdir(), 'blastkit-fake-stage-'));
  const root = join(dir, 'node_modules', '@tensorflow');
  mkdirSync(join(root, pkg, 'dist'), { recursive: true });
  mkdirSync(join(root, 'tfjs-core'), { recursive: true });
  writeFileSync(
    join(root, pkg, 'package.json'),
    JSON.stringify({ name: `@tensorflow/${pkg}`, version: '4.22.0', main: 'dist/index.js' }),
  );
  writeFileSync(join(root, pkg, 'dist', 'index.js'), files.main);
  writeFileSync(
    join(root, 'tfjs-core', 'package.json'),
    JSON.stringify({ name: '@tensorflow/tfjs-core', version: files.coreVersion }),
  );
  return dir;
}

describe('native engines from a staged folder', () => {
  it('names the folder and the failure when the addon does not load', async () => {
    // $BLASTKIT_TFJS_NODE_DIR is searched after normal module resolution, then the default cache folder
    const broken = fakeStage('tfjs-node', {
      coreVersion: '4.22.0',
      main: "throw new Error('The Node.js native addon module (tfjs_binding.node) can not be found');",
    });
    process.env.BLASTKIT_TFJS_NODE_DIR = broken;
    process.env.BLASTKIT_CACHE_DIR = mkdtempSync(join(tmpdir(), 'blastkit-empty-cache-'));
    // the -gpu package stays unprobed for the next test
    const engine = await selectTfjsEngine(['tfjs-node', 'wasm']);
    expect(engine.name).toBe('wasm');
    const report = await tfjsEngineReport();
    const by = Object.fromEntries(report.engines.map((e) => [e.name, e]));
    expect(by['tfjs-node'].status).toBe('unavailable');
    expect(by['tfjs-node'].detail).toContain(
      `@tensorflow/tfjs-node 4.22.0 found at ${join(broken, 'node_modules/@tensorflow/tfjs-node')} but did not load: The Node.js native addon module (tfjs_binding.node) can not be found`,
    );
    expect(by['tfjs-node'].detail).toContain('stage it with tools/tfjs-node/stage.sh');
    expect(by['tfjs-node-gpu'].detail).toBe('not in the preference list');
  });

  it("refuses a staged package whose tfjs-core differs from this package's (the copies share tfjs state)", async () => {
    process.env.BLASTKIT_TFJS_NODE_DIR = fakeStage('tfjs-node-gpu', { coreVersion: '4.2.0', main: '' });
    const r = await probeNative('tfjs-node-gpu');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/uses @tensorflow\/tfjs-core 4\.2\.0, this package 4\.22\.0/);
  });
});
