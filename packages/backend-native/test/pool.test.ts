import { afterAll, describe, expect, it } from 'vitest';
import { NativeBackend } from '../src/index.js';
import { Rng, randomTensor } from './support/random.js';

// Decode allocates nothing per token after the first: a decode-like step (rmsNorm, a dense layer, a BLAST layer,
// RoPE, attention over a fixed cache, an add) whose intermediates are disposed each time finds every buffer it
// needs in the addon's free list. Native memory (live + pooled) and the count of fresh allocations stay flat.

const available = NativeBackend.probe().available;

describe.runIf(available)('the native memory pool', () => {
  const be = available ? NativeBackend.createSync({ threads: 2 }) : (undefined as never);
  afterAll(() => be?.close());

  it('a decode loop of 1,000 steps allocates nothing after the first', () => {
    const rng = new Rng(3);
    const d = 256;
    const heads = 8;
    const hd = d / heads;
    const up = (shape: number[], std = 1) => be.upload(randomTensor(rng, shape, std));
    const norm = up([d]);
    const w = up([3 * d, d], 0.05);
    const B = up([8, d / 8, 64]);
    const C = up([8, 64, d / 8]);
    const D = up([8, 8, 64]);
    const kCache = up([64, heads, hd]);
    const vCache = up([64, heads, hd]);
    let x = up([1, d]);

    const step = (t: number) => {
      const h = be.rmsNorm(x, norm, 1e-5);
      const qkv = be.linear(h, w);
      const q2 = be.slice(qkv, [0, 0], [1, d]);
      const q = be.reshape(q2, [1, heads, hd]);
      const qr = be.rope(q, Int32Array.of(t % 64), { theta: 10000 });
      const att = be.attention(qr, kCache, vCache, { causal: true, queryOffset: t % 64 });
      const flat = be.reshape(att, [1, d]);
      const mixed = be.blastForward(flat, B, C, D);
      const next = be.add(x, mixed);
      for (const tmp of [h, qkv, q2, q, qr, att, flat, mixed, x]) be.dispose(tmp);
      x = next;
    };

    step(0);
    const after1 = be.memory;
    for (let t = 1; t < 1000; t++) step(t);
    const after1000 = be.memory;
    expect(after1000.bytes + after1000.pooledBytes).toBe(after1.bytes + after1.pooledBytes);
    expect(after1000.allocations).toBe(after1.allocations);
    expect(after1000.scratchBytes).toBe(after1.scratchBytes);
    expect(after1000.tensors).toBe(after1.tensors);
  });

  it('counts live tensors and bytes, frees to the pool on dispose, and trimPool empties the pool', () => {
    const before = be.memory;
    const t = be.upload(randomTensor(new Rng(1), [1000]));
    expect(be.memory.tensors).toBe(before.tensors + 1);
    // 4,000 bytes asked for, 4,032 allocated: the pool's size class (64-byte steps up to 4 KiB)
    expect(be.memory.bytes).toBe(before.bytes + 4032);
    expect(be.memory.peakBytes).toBeGreaterThanOrEqual(be.memory.bytes);
    be.dispose(t);
    be.dispose(t);
    expect(be.memory.bytes).toBe(before.bytes);
    expect(be.memory.pooledBytes).toBeGreaterThanOrEqual(4000);
    be.trimPool();
    expect(be.memory.pooledBytes).toBe(0);
  });

  it('a tensor that grows a row per step (the KV cache) reuses pooled buffers instead of fresh memory', () => {
    const row = be.upload(randomTensor(new Rng(3), [1, 288]));
    let cache = be.upload(randomTensor(new Rng(4), [1, 288]));
    for (let i = 0; i < 50; i++) {
      const next = be.concat([cache, row], 0);
      be.dispose(cache);
      cache = next;
    }
    const fresh = be.memory.allocations;
    for (let i = 0; i < 400; i++) {
      const next = be.concat([cache, row], 0);
      be.dispose(cache);
      cache = next;
    }
    // 8 size classes per doubling: 51 → 451 rows crosses about 25 classes, each allocated once or twice
    expect(be.memory.allocations - fresh).toBeLessThan(60);
    expect(cache.shape).toEqual([451, 288]);
    be.dispose(cache);
    be.dispose(row);
  });

  it('a reshape shares the buffer: it is freed with the last handle', () => {
    const before = be.memory.tensors;
    const t = be.upload(randomTensor(new Rng(2), [4, 6]));
    const r = be.reshape(t, [6, 4]);
    be.dispose(t);
    expect(be.memory.tensors).toBe(before + 1);
    expect(() => be.readSync(t)).toThrow(/was disposed/);
    expect(be.readSync(r).shape).toEqual([6, 4]);
    be.dispose(r);
    expect(be.memory.tensors).toBe(before);
  });

  it('opening and closing many thread pools, with parallel work between, never hangs', () => {
    const rng = new Rng(4);
    const a = randomTensor(rng, [64, 256]);
    const b = randomTensor(rng, [256, 128]);
    for (let i = 0; i < 200; i++) {
      const other = NativeBackend.createSync({ threads: 2 + (i % 3) });
      if (i % 2 === 0) other.dispose(other.matmul(other.upload(a), other.upload(b)));
      other.close();
    }
  });
});
