import { CpuBackend, Rng } from '@blastkit/core';
import { closeness, randomTensor } from '@blastkit/core/test';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TfjsBackend } from '../src/index.js';

let be: TfjsBackend;
beforeAll(async () => {
  be = await TfjsBackend.create({ engine: 'wasm' });
});
afterAll(async () => {
  await be.close();
});

const cpu = new CpuBackend();
const rng = new Rng(2024);
const tol = { relative: 1e-5, absolute: 1e-6 };

/** The output shapes of every tfjs kernel `fn` runs (tf.profile records them). */
async function kernelOutputs(fn: () => void): Promise<{ name: string; shape: number[] }[]> {
  const info = await tf.profile(fn);
  return info.kernels.flatMap((k) =>
    k.outputShapes.map((shape) => ({ name: k.name, shape: shape as number[] })),
  );
}

describe('BLAST forward structure', () => {
  // a scaled Llama attention layer: m = n = 256, b = 16 blocks of 16, r = 64, a prefill of N = 32 tokens
  const [m, n, b, r, N] = [256, 256, 16, 64, 32];
  const B = randomTensor([b, m / b, r], rng);
  const C = randomTensor([b, r, n / b], rng);
  const D = randomTensor([b, b, r], rng);

  for (const transpose of [false, true]) {
    it(`never forms the dense matrix nor the b×b×N×r coupling tensor${transpose ? ' (Aᵀ)' : ''}`, async () => {
      const x = randomTensor([N, transpose ? m : n], rng);
      const hs = [x, B, C, D].map((t) => be.upload(t));
      let y = hs[0];
      const kernels = await kernelOutputs(() => {
        y = be.blastForward(hs[0], hs[1], hs[2], hs[3], { transpose });
      });
      const sizes = kernels.map((k) => k.shape.reduce((a, d) => a * d, 1));
      // the largest legitimate intermediate is [b, r, N] (or x, y themselves: [N, 256])
      expect(Math.max(...sizes)).toBe(Math.max(b * r * N, N * m));
      expect(Math.max(...sizes)).toBeLessThan(Math.min(m * n, b * b * N * r));
      expect(kernels.filter((k) => k.name === 'BatchMatMul')).toHaveLength(3);
      const want = cpu.blastForward(x, B, C, D, { transpose });
      expect(closeness(await be.download(y), want, tol)).toBeNull();
      for (const h of [...hs, y]) be.dispose(h);
    });
  }

  it('matches the reference at the stories15M MLP shape (768×288, b=4, r=96) for decode and prefill', async () => {
    const [mm, nn, bb, rr] = [768, 288, 4, 96];
    const B2 = randomTensor([bb, mm / bb, rr], rng);
    const C2 = randomTensor([bb, rr, nn / bb], rng);
    const D2 = randomTensor([bb, bb, rr], rng);
    const f = [B2, C2, D2].map((t) => be.upload(t));
    for (const tokens of [1, 64]) {
      const x = randomTensor([tokens, nn], rng);
      const y = be.blastForward(be.upload(x), f[0], f[1], f[2]);
      expect(closeness(await be.download(y), cpu.blastForward(x, B2, C2, D2), tol)).toBeNull();
    }
  });
});

describe('matmul batch broadcast', () => {
  it('a batch of 1 broadcasts on either side, as the interface says', async () => {
    const a = randomTensor([1, 7, 5], rng);
    const b3 = randomTensor([4, 5, 3], rng);
    const a3 = randomTensor([4, 7, 5], rng);
    const b1 = randomTensor([1, 3, 5], rng);
    const y1 = await be.download(be.matmul(be.upload(a), be.upload(b3)));
    expect(closeness(y1, cpu.matmul(a, b3), tol)).toBeNull();
    const y2 = await be.download(be.matmul(be.upload(a3), be.upload(b1), { transposeB: true }));
    expect(closeness(y2, cpu.matmul(a3, b1, { transposeB: true }), tol)).toBeNull();
  });
});
