import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, Tensor } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  formatTfjsEngineReport,
  parseEnginePreference,
  selectTfjsEngine,
  TFJS_ENGINE_NAMES,
  TfjsBackend,
  tfjsEngineReport,
} from '../src/index.js';

// A cache folder with nothing staged, so the native engines are absent whatever this machine has staged:
// the selection below is the same everywhere.
process.env.BLASTKIT_CACHE_DIR = mkdtempSync(join(tmpdir(), 'blastkit-tfjs-engine-'));
delete process.env.BLASTKIT_TFJS_NODE_DIR;
delete process.env.BLASTKIT_TFJS_ENGINE;

describe('engine preference', () => {
  it('rejects unknown, repeated and empty lists, naming the problem', () => {
    expect(() => parseEnginePreference(['wasm', 'webgl'])).toThrow(/unknown engine 'webgl'/);
    expect(() => parseEnginePreference(['cpu', 'cpu'])).toThrow(/listed twice/);
    expect(() => parseEnginePreference([])).toThrow(InvalidArgumentError);
    expect(parseEnginePreference([' cpu', 'wasm '])).toEqual(['cpu', 'wasm']);
  });
});

describe('engine selection (one process: tfjs has one active engine)', () => {
  it('picks the best engine present: WebAssembly when no native engine is installed or staged', async () => {
    const engine = await selectTfjsEngine();
    expect(engine.name).toBe('wasm');
    expect(engine.tf.getBackend()).toBe('wasm');
    expect(engine.tf).toBe(tf);
    expect(engine.detail).toMatch(/tfjs-backend-wasm 4\.22\.0/);
  });

  it('reports why each other engine was not picked', async () => {
    const report = await tfjsEngineReport();
    expect(report.picked).toBe('wasm');
    expect(report.engines.map((e) => e.name)).toEqual([...TFJS_ENGINE_NAMES]);
    const by = Object.fromEntries(report.engines.map((e) => [e.name, e]));
    for (const name of ['tfjs-node-gpu', 'tfjs-node'] as const) {
      expect(by[name].status).toBe('unavailable');
      expect(by[name].detail).toMatch(/not installed .*stage it with tools\/tfjs-node\/stage\.sh/);
      expect(by[name].detail).toContain(process.env.BLASTKIT_CACHE_DIR);
    }
    expect(by.wasm.status).toBe('picked');
    expect(by.webgpu).toMatchObject({ status: 'not-probed', detail: 'not tried: wasm was picked first' });
    expect(by.cpu.status).toBe('not-probed');
  });

  it('with probeAll, says for every engine whether it works here, and leaves the picked one active', async () => {
    const report = await tfjsEngineReport({ probeAll: true });
    const by = Object.fromEntries(report.engines.map((e) => [e.name, e]));
    expect(by.cpu).toMatchObject({ status: 'available' });
    expect(by.cpu.detail).toMatch(/not picked: wasm comes first/);
    // a GPU machine has an adapter; elsewhere the reason names what was tried
    if (by.webgpu.status !== 'available') expect(by.webgpu.detail).toMatch(/no WebGPU adapter: tried/);
    expect(tf.getBackend()).toBe('wasm');
    const text = formatTfjsEngineReport(report);
    expect(text.split('\n')).toHaveLength(5);
    expect(text).toMatch(/^▶ wasm /m);
    expect(text).toMatch(/^✗ tfjs-node /m);
  });

  it('an engine that cannot run is an error listing the reason', async () => {
    await expect(selectTfjsEngine(['tfjs-node'])).rejects.toThrow(
      /no TensorFlow\.js engine works here \(tfjs-node: not installed/,
    );
    expect(tf.getBackend()).toBe('wasm');
  });

  it('switching engines: a backend refuses to run on an engine that is no longer active, by name', async () => {
    const onWasm = await TfjsBackend.create({ engine: 'wasm' });
    const h = onWasm.upload(Tensor.filled([2], 1));
    const engine = await selectTfjsEngine(['cpu']);
    expect(engine.name).toBe('cpu');
    expect(() => onWasm.add(h, h)).toThrow(/tfjs backend \(wasm\): add: TensorFlow\.js now runs 'cpu'/);
    await selectTfjsEngine(['wasm']);
    expect(Array.from((await onWasm.download(onWasm.add(h, h))).data)).toEqual([2, 2]);
    await onWasm.close();
  });

  it(`reads the preference from $BLASTKIT_TFJS_ENGINE when none is passed`, async () => {
    process.env.BLASTKIT_TFJS_ENGINE = 'tfjs-node,cpu';
    try {
      const be = await TfjsBackend.create();
      expect(be.engine).toBe('cpu');
      const report = await tfjsEngineReport();
      const by = Object.fromEntries(report.engines.map((e) => [e.name, e]));
      expect(by.wasm.detail).toMatch(/not picked: not in the preference list/);
      await be.close();
      process.env.BLASTKIT_TFJS_ENGINE = 'cuda';
      await expect(selectTfjsEngine()).rejects.toThrow(/BLASTKIT_TFJS_ENGINE: unknown engine 'cuda'/);
    } finally {
      delete process.env.BLASTKIT_TFJS_ENGINE;
    }
  });
});
