import { CpuBackend, NotPositiveDefiniteError, Rng, Tensor } from '@blastkit/core';
import { closeness, randomTensor } from '@blastkit/core/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackend, WebGpuBackend } from '../src/index.js';
import { EXPECTED_ADAPTER, TEST_ADAPTER } from './adapter.js';

// Behaviour of this backend beyond the shared suite: memory handles, limits, the CPU hand-off chain, and
// shapes past the suite's (several attention chunks, partial reduction lanes).
describe('WebGpuBackend (software adapter)', () => {
  let gpu: WebGpuBackend;
  const cpu = new CpuBackend();
  const rng = new Rng(99);
  const tol = { relative: 1e-5, absolute: 1e-6 };

  beforeAll(async () => {
    gpu = await WebGpuBackend.create({ adapter: TEST_ADAPTER });
  });
  afterAll(async () => {
    await gpu?.close();
  });

  it('names its adapter', () => {
    expect(gpu.describe().engine).toMatch(EXPECTED_ADAPTER);
    expect(gpu.name).toBe('webgpu');
  });

  it('round-trips a tensor, including an empty one', async () => {
    const t = randomTensor([3, 5], rng);
    expect((await gpu.download(gpu.upload(t))).data).toEqual(t.data);
    const empty = await gpu.download(gpu.upload(new Tensor([0, 4])));
    expect(empty.shape).toEqual([0, 4]);
  });

  it('reshape shares the buffer, which lives until the last handle is disposed', async () => {
    const t = randomTensor([4, 6], rng);
    const a = gpu.upload(t);
    const b = gpu.reshape(a, [2, -1]);
    expect(b.shape).toEqual([2, 12]);
    gpu.dispose(a);
    gpu.dispose(a);
    expect((await gpu.download(b)).data).toEqual(t.data);
    expect(() => gpu.add(a, a)).toThrow(/disposed/);
    gpu.dispose(b);
  });

  it('rejects a handle from another backend, naming the input', () => {
    expect(() => gpu.softmax(new Tensor([2, 2]))).toThrow(/softmax input is not a tensor of this backend/);
  });

  it('throws naming maxStorageBufferBindingSize for a tensor past it', () => {
    const side = Math.ceil(Math.sqrt(gpu.maxBindingBytes / 4)) + 1;
    const a = gpu.upload(new Tensor([side, 1]));
    const b = gpu.upload(new Tensor([1, side]));
    expect(() => gpu.matmul(a, b)).toThrow(/maxStorageBufferBindingSize/);
  });

  it('orders GPU work after a CPU hand-off, and reports a failed hand-off on download', async () => {
    const m = randomTensor([2, 5, 5], rng);
    const A = cpu.matmul(m, m, { transposeB: true });
    for (let k = 0; k < 2; k++) for (let i = 0; i < 5; i++) A.data[(k * 5 + i) * 5 + i] += 5;
    const B = randomTensor([2, 5, 3], rng);
    const X = gpu.choleskySolve(gpu.upload(A), gpu.upload(B));
    const doubled = gpu.scale(X, 2);
    const want = cpu.scale(cpu.choleskySolve(A, B), 2);
    expect(closeness(await gpu.download(doubled), want, tol)).toBeNull();

    const bad = gpu.choleskySolve(
      gpu.upload(new Tensor([1, 2, 2], [1, 0, 0, -1])),
      gpu.upload(new Tensor([1, 2, 1])),
    );
    await expect(gpu.download(bad)).rejects.toBeInstanceOf(NotPositiveDefiniteError);
    // the backend stays usable afterwards
    const t = randomTensor([2, 3], rng);
    expect((await gpu.download(gpu.upload(t))).data).toEqual(t.data);
  });

  it('attention over several 64-key chunks with headDim 80 (two channels per invocation)', async () => {
    const q = randomTensor([5, 4, 80], rng);
    const k = randomTensor([200, 2, 80], rng);
    const v = randomTensor([200, 2, 80], rng);
    for (const options of [{ causal: true, queryOffset: 195 }, { causal: false }]) {
      const got = await gpu.download(gpu.attention(gpu.upload(q), gpu.upload(k), gpu.upload(v), options));
      expect(closeness(got, cpu.attention(q, k, v, options), tol)).toBeNull();
    }
  });

  it('row kernels with partly idle lanes (widths 12 and 65)', async () => {
    for (const width of [12, 65]) {
      const x = randomTensor([3, width], rng, 2);
      for (let i = 0; i < x.size; i++) x.data[i] += 5;
      const w = randomTensor([width], rng);
      const b = randomTensor([width], rng);
      const got = await gpu.download(gpu.layerNorm(gpu.upload(x), gpu.upload(w), gpu.upload(b), 1e-5));
      expect(closeness(got, cpu.layerNorm(x, w, b, 1e-5), tol), `layerNorm width ${width}`).toBeNull();
      const sm = await gpu.download(gpu.softmax(gpu.upload(x)));
      expect(closeness(sm, cpu.softmax(x), tol), `softmax width ${width}`).toBeNull();
    }
  });

  it('batched matmul broadcasting a batch of 1 on either side, across tile edges', async () => {
    const a = randomTensor([1, 33, 17], rng);
    const b = randomTensor([3, 33, 20], rng);
    const got = await gpu.download(gpu.matmul(gpu.upload(a), gpu.upload(b), { transposeA: true }));
    expect(closeness(got, cpu.matmul(a, b, { transposeA: true }), tol)).toBeNull();
    const got2 = await gpu.download(gpu.matmul(gpu.upload(b), gpu.upload(a), { transposeA: true }));
    expect(closeness(got2, cpu.matmul(b, a, { transposeA: true }), tol)).toBeNull();
  });

  it('matmul with an empty inner dimension gives zeros', async () => {
    const y = await gpu.download(gpu.matmul(gpu.upload(new Tensor([3, 0])), gpu.upload(new Tensor([0, 2]))));
    expect(Array.from(y.data)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('createBackend() gives a working webgpu backend (the CLI entry point)', async () => {
    const backend = await createBackend();
    try {
      expect(backend.name).toBe('webgpu');
      const t = randomTensor([2, 2], rng);
      expect((await backend.download(backend.upload(t))).data).toEqual(t.data);
    } finally {
      await backend.close?.();
    }
  });
});
