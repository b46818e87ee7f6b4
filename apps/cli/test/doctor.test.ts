import { describe, expect, it } from 'vitest';
import { formatDoctor, resolveBackend, runDoctor, UsageError } from '../src/index.js';

describe('blastkit doctor: TensorFlow.js engines', () => {
  it('reports every tfjs engine: the one picked, and for each other whether it works or why not', async () => {
    const r = await runDoctor();
    const tfjs = r.backends.find((b) => b.name === 'tfjs');
    expect(tfjs?.available).toBe(true);
    expect(tfjs?.detail).toMatch(/^loaded \(backend 'tfjs', engine (tfjs-node-gpu|tfjs-node|wasm)\)$/);
    const engines = r.tfjsEngines ?? [];
    expect(engines.map((e) => e.name)).toEqual(['tfjs-node-gpu', 'tfjs-node', 'wasm', 'webgpu', 'cpu']);
    expect(engines.filter((e) => e.status === 'picked')).toHaveLength(1);
    // probed all: none is left unexplained, and the two bundled engines always work
    for (const e of engines) {
      expect(e.status).not.toBe('not-probed');
      expect(e.detail.length).toBeGreaterThan(10);
    }
    for (const name of ['wasm', 'cpu']) {
      expect(['picked', 'available']).toContain(engines.find((e) => e.name === name)?.status);
    }
    const native = engines.find((e) => e.name === 'tfjs-node');
    if (native?.status === 'unavailable') expect(native.detail).toMatch(/tools\/tfjs-node\/stage\.sh/);
    const text = formatDoctor(r);
    expect(text).toMatch(/^✓ tfjs {4}loaded/m);
    expect(text).toMatch(/^ {4}[▶✓] wasm {10}tfjs-backend-wasm 4\.22\.0/m);
  });

  it('--backend tfjs:ENGINE picks the engine; a bad variant is a usage error', async () => {
    const be = await resolveBackend('tfjs:cpu');
    expect(be.name).toBe('tfjs');
    expect((be as unknown as { engine: string }).engine).toBe('cpu');
    await be.close?.();
    await expect(resolveBackend('tfjs:webgl')).rejects.toThrow(
      /--backend tfjs:webgl: not available on this machine: .*unknown engine 'webgl'/,
    );
    await expect(resolveBackend('tfjs:')).rejects.toThrow(UsageError);
    await expect(resolveBackend('cpu:fast')).rejects.toThrow(/'cpu' takes no ':fast' variant/);
    await expect(resolveBackend('fast')).rejects.toThrow(/unknown backend 'fast' \(known: auto, native, cpu/);
    await expect(resolveBackend('webgpu:x')).rejects.toThrow(/'webgpu' takes no ':x' variant/);
  });
});
