import { CpuBackend, NotPositiveDefiniteError, Rng, Tensor } from '@blastkit/core';
import { closeness, randomTensor } from '@blastkit/core/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CudaBackend, openCudaBackend } from '../src/index.js';
import { coalesce } from '../src/kernels/shapes.js';
import type { Runtime } from '../src/runtime.js';
import { emulatedAddon } from './support/emulated-addon.js';
import { churn } from './support/every-operation.js';

// Behaviour of the backend's JavaScript half beyond the shared suite, on the emulated addon: handles and their
// memory, the CPU hand-offs, shapes past the suite's (broadcast batches, b past the mixing kernel's register
// path), the half-precision GEMMs, and the leak check the GPU run repeats on the device.
describe('CudaBackend (emulated addon)', () => {
  let be: CudaBackend;
  const cpu = new CpuBackend();
  const rng = new Rng(7);
  const tol = { relative: 1e-5, absolute: 1e-6 };

  beforeAll(() => {
    be = openCudaBackend(emulatedAddon());
  });
  afterAll(async () => {
    await be?.close();
  });

  it('round-trips a tensor, including empty and scalar ones', async () => {
    const t = randomTensor([3, 5], rng);
    expect((await be.download(be.upload(t))).data).toEqual(t.data);
    expect((await be.download(be.upload(new Tensor([0, 4])))).shape).toEqual([0, 4]);
    expect((await be.download(be.upload(new Tensor([], [2.5])))).data[0]).toBe(2.5);
  });

  it('reshape shares the buffer, which lives until the last handle is disposed; dispose twice is safe', async () => {
    const before = be.memory;
    const t = randomTensor([4, 6], rng);
    const a = be.upload(t);
    const b = be.reshape(a, [2, -1]);
    expect(b.shape).toEqual([2, 12]);
    expect(be.memory.buffers).toBe(before.buffers + 1);
    be.dispose(a);
    be.dispose(a);
    expect((await be.download(b)).data).toEqual(t.data);
    expect(() => be.add(a, a)).toThrow(/add a was disposed/);
    be.dispose(b);
    // the buffer is released with the last handle: into the pool, from which the next tensor of its size comes
    const live = (m: typeof before) => m.buffers - m.pooledBuffers;
    expect(live(be.memory)).toBe(live(before));
    expect(be.memory.pooledBytes).toBeGreaterThanOrEqual(24 * 4);
  });

  it('reuses freed buffers of the same size, and trimPool gives them back to CUDA', () => {
    be.trimPool();
    const start = be.memory;
    expect(start.pooledBuffers).toBe(0);
    const x = be.upload(randomTensor([8, 8], rng));
    be.dispose(x);
    expect(be.memory).toMatchObject({ buffers: start.buffers + 1, pooledBuffers: 1, pooledBytes: 256 });
    const y = be.upload(randomTensor([4, 16], rng)); // same bytes: the pooled buffer, no cudaMalloc
    expect(be.memory).toMatchObject({
      buffers: start.buffers + 1,
      pooledBuffers: 0,
      mallocs: start.mallocs + 1,
    });
    be.dispose(y);
    be.trimPool();
    expect(be.memory).toMatchObject({ buffers: start.buffers, pooledBuffers: 0, frees: start.frees + 1 });
  });

  it('rejects a handle from another backend, naming the input', () => {
    expect(() => be.softmax(new Tensor([2, 2]))).toThrow(/softmax input is not a tensor of this backend/);
  });

  it('matmul broadcasts a batch of 1 on either side', async () => {
    for (const [sa, sb] of [
      [
        [1, 4, 6],
        [5, 6, 3],
      ],
      [
        [5, 4, 6],
        [1, 6, 3],
      ],
    ]) {
      const a = randomTensor(sa, rng);
      const b = randomTensor(sb, rng);
      for (const transposeB of [false, true]) {
        const bb = transposeB ? cpu.transpose(b, [0, 2, 1]) : b;
        const got = await be.download(be.matmul(be.upload(a), be.upload(bb), { transposeB }));
        expect(closeness(got, cpu.matmul(a, bb, { transposeB }), tol)).toBeNull();
      }
    }
  });

  it('blastForward with b = 40 (past the mixing kernel’s register path), both directions, N = 1 and 5', async () => {
    const b = 40;
    const r = 3;
    const B = randomTensor([b, 2, r], rng);
    const C = randomTensor([b, r, 1], rng);
    const D = randomTensor([b, b, r], rng);
    for (const transpose of [false, true]) {
      for (const N of [1, 5]) {
        const x = randomTensor([N, transpose ? 2 * b : b], rng);
        const got = be.blastForward(be.upload(x), be.upload(B), be.upload(C), be.upload(D), { transpose });
        const want = cpu.blastForward(x, B, C, D, { transpose });
        expect(closeness(await be.download(got), want, tol)).toBeNull();
      }
    }
  });

  it('structured forwards with N = 0 rows give empty outputs', async () => {
    const x = new Tensor([0, 8]);
    const y = be.blastForward(
      be.upload(x),
      be.upload(randomTensor([2, 3, 2], rng)),
      be.upload(randomTensor([2, 2, 4], rng)),
      be.upload(randomTensor([2, 2, 2], rng)),
    );
    expect((await be.download(y)).shape).toEqual([0, 6]);
  });

  it('a CPU hand-off returns device tensors that later work reads; a failed one throws at the call', async () => {
    const m = randomTensor([2, 5, 5], rng);
    const A = cpu.matmul(m, m, { transposeB: true });
    for (let k = 0; k < 2; k++) for (let i = 0; i < 5; i++) A.data[(k * 5 + i) * 5 + i] += 5;
    const B = randomTensor([2, 5, 3], rng);
    const doubled = be.scale(be.choleskySolve(be.upload(A), be.upload(B)), 2);
    expect(closeness(await be.download(doubled), cpu.scale(cpu.choleskySolve(A, B), 2), tol)).toBeNull();
    expect(() =>
      be.choleskySolve(be.upload(new Tensor([1, 2, 2], [1, 0, 0, -1])), be.upload(new Tensor([1, 2, 1]))),
    ).toThrow(NotPositiveDefiniteError);
  });

  it('half-precision GEMMs match the CPU product of the rounded inputs', async () => {
    const a = randomTensor([7, 33], rng);
    const b = randomTensor([19, 33], rng);
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const ha = be.toHalf(be.upload(a), dtype);
      const hb = be.toHalf(be.upload(b), dtype);
      const got = await be.download(be.matmulHalf(ha, hb, { transposeB: true }));
      const want = cpu.matmul(a, b, { transposeB: true });
      // inputs rounded to 11 (f16) or 8 (bf16) significant bits
      expect(closeness(got, want, { relative: dtype === 'float16' ? 3e-3 : 2e-2, absolute: 0 })).toBeNull();
      be.disposeHalf(ha);
      be.disposeHalf(hb);
      expect(() => be.matmulHalf(ha, hb)).toThrow(/disposed/);
    }
  });

  it('the addon rejects element ranges past a buffer (a wrong size computed in JavaScript is an Error)', () => {
    const x = be.upload(randomTensor([2, 3], rng)) as unknown as { id: number };
    const { rt } = be as unknown as { rt: Runtime };
    expect(() => rt.native.scale(rt.ctx, x.id, x.id, 7, 1, 0)).toThrow(/outside buffer #\d+ of 24 bytes/);
  });

  it('merges axes for the strided kernels', () => {
    expect(coalesce('t', [2, 3, 4], [12, 4, 1], [12, 4, 1])).toEqual({ dims: [24], strides: [[1], [1]] });
    expect(coalesce('t', [2, 1, 4], [4, 4, 1], [0, 0, 1])).toEqual({
      dims: [2, 4],
      strides: [
        [4, 1],
        [0, 1],
      ],
    });
    // a 9-axis transpose: inner axes with larger strides never merge
    const reversed = [1, 3, 9, 27, 81, 243, 729, 2187, 6561];
    expect(() => coalesce('t', [2, 2, 2, 2, 2, 2, 2, 2, 2], reversed, reversed)).toThrow(/more than 8 axes/);
  });

  it('frees every buffer over thousands of calls (the accounting the GPU leak test relies on)', () => {
    churn(be, 1);
    const before = be.memory;
    const calls = churn(be, 60);
    const after = be.memory;
    expect(calls).toBeGreaterThan(2000);
    // freed tensors parked in the pool for reuse are still allocated: count them apart
    expect(after.buffers - after.pooledBuffers).toBe(before.buffers - before.pooledBuffers);
    expect(after.bytes - after.pooledBytes).toBe(before.bytes - before.pooledBytes);
    // and the pool is bounded by reuse: the steady state allocates nothing new
    expect(after.mallocs).toBe(before.mallocs);
    expect(after.scratchBytes).toBe(before.scratchBytes);
  });

  it('refuses work after close, and close twice is safe', async () => {
    const other = openCudaBackend(emulatedAddon());
    const t = other.upload(new Tensor([2], [1, 2]));
    await other.close();
    await other.close();
    expect(() => other.scale(t, 2)).toThrow(/closed/);
  });
});
