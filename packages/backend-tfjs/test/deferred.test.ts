import { CpuBackend, NotPositiveDefiniteError, Rng, Tensor } from '@blastkit/core';
import { closeness, describeBackendConformance, randomTensor } from '@blastkit/core/test';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { TfjsBackend, type TfjsTensor } from '../src/index.js';

// The path WebGPU takes (tfjs cannot read a GPU tensor back synchronously in Node): CPU hand-offs and what
// depends on them are computed later, in program order. Forced here on the plain-JavaScript engine, so it
// runs fast and deterministically; conformance-webgpu.test.ts runs it for real.
const create = () => TfjsBackend.create({ engine: 'cpu', asyncHandoffs: true });

describeBackendConformance({ name: 'tfjs (cpu engine, deferred hand-offs)', createBackend: create });

describe('deferred hand-offs', () => {
  const rng = new Rng(5);
  const spd = (batch: number, r: number) => {
    const m = randomTensor([batch, r, r], rng);
    const g = new CpuBackend().matmul(m, m, { transposeB: true });
    for (let k = 0; k < batch; k++) for (let i = 0; i < r; i++) g.data[(k * r + i) * r + i] += r;
    return g;
  };

  it('chains: an operation on a pending output waits for it, and disposing inputs early is safe', async () => {
    const be = await create();
    const cpu = new CpuBackend();
    const A = spd(3, 6);
    const B = randomTensor([3, 6, 2], rng);
    const W = randomTensor([3, 2, 4], rng);
    const hA = be.upload(A);
    const hB = be.upload(B);
    const hW = be.upload(W);
    const X = be.choleskySolve(hA, hB) as TfjsTensor;
    expect(X.value).toBeUndefined(); // really deferred
    const Y = be.matmul(X, hW);
    const Z = be.scale(Y, 2);
    // freed only after the queued work that reads them
    be.dispose(hA);
    be.dispose(hB);
    be.dispose(hW);
    const want = cpu.scale(cpu.matmul(cpu.choleskySolve(A, B), W), 2);
    expect(closeness(await be.download(Z), want, { relative: 1e-5, absolute: 1e-6 })).toBeNull();
    await be.close();
  });

  it('a failed hand-off is reported by download, for its outputs and for what was computed from them', async () => {
    const be = await create();
    const notSpd = new Tensor([1, 2, 2], [1, 2, 2, 1]);
    const X = be.choleskySolve(be.upload(notSpd), be.upload(Tensor.filled([1, 2, 1], 1)));
    const Y = be.add(X, X);
    await expect(be.download(X)).rejects.toThrow(NotPositiveDefiniteError);
    await expect(be.download(Y)).rejects.toThrow(/system 0 is not positive definite/);
    // once known, the failure is thrown at once by operations that read the handle
    expect(() => be.add(X, X)).toThrow(NotPositiveDefiniteError);
    await be.close();
  });

  it('leaks nothing: tf.memory() is back to where it was after dispose', async () => {
    const be = await create();
    const base = tf.memory().numTensors;
    const hA = be.upload(spd(2, 5));
    const x = be.choleskySolve(hA, be.upload(randomTensor([2, 5, 3], rng)));
    const e = be.eigh(be.reshape(be.slice(hA, [0, 0, 0], [1, -1, -1]), [5, 5]));
    const s = be.truncatedSvd(be.reshape(x, [10, 3]), 2);
    await be.download(s.V);
    await be.download(e.vectors);
    await be.close();
    expect(tf.memory().numTensors).toBe(base);
  });
});
