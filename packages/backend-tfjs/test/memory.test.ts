import {
  type Backend,
  type BackendTensor,
  CpuBackend,
  InvalidArgumentError,
  Rng,
  Tensor,
} from '@blastkit/core';
import { randomTensor } from '@blastkit/core/test';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TfjsBackend } from '../src/index.js';

// tfjs memory accounting on the WebAssembly engine (its tensors live in the wasm heap, so a leak there is a
// real leak, not garbage the JS collector would take).
let be: TfjsBackend;
beforeAll(async () => {
  be = await TfjsBackend.create({ engine: 'wasm' });
});
afterAll(async () => {
  await be.close();
});

const rng = new Rng(42);
const t = (shape: number[]) => randomTensor(shape, rng);

/** Every operation of the interface once, on uploaded inputs; returns every handle it made. */
function everyOperation(b: Backend): BackendTensor[] {
  const made: BackendTensor[] = [];
  const up = (x: Tensor) => {
    const h = b.upload(x);
    made.push(h);
    return h;
  };
  const keep = <T extends BackendTensor>(h: T) => {
    made.push(h);
    return h;
  };
  const x = up(t([6, 24]));
  const sq = up(t([24, 24]));
  const m = t([2, 8, 8]);
  const spd = new CpuBackend().matmul(m, m, { transposeB: true });
  for (let k = 0; k < 2; k++) for (let i = 0; i < 8; i++) spd.data[(k * 8 + i) * 8 + i] += 8;
  keep(b.matmul(x, sq, { transposeB: true }));
  keep(b.matmul(up(t([3, 6, 24])), up(t([1, 24, 5]))));
  keep(b.linear(x, up(t([10, 24])), up(t([10]))));
  keep(b.blastForward(x, up(t([4, 3, 5])), up(t([4, 5, 6])), up(t([4, 4, 5]))));
  keep(b.lowRankForward(x, up(t([9, 3])), up(t([24, 3]))));
  keep(b.monarchForward(x, up(t([4, 3, 8])), up(t([4, 8, 6]))));
  keep(b.blockDiagonalForward(x, up(t([4, 2, 6]))));
  keep(b.add(x, up(t([24]))));
  keep(b.sub(x, x));
  keep(b.mul(x, x));
  keep(b.scale(x, 2, 1));
  keep(b.unary(x, 'gelu'));
  keep(b.softmax(x));
  keep(b.rmsNorm(x, up(t([24])), 1e-5));
  keep(b.layerNorm(x, up(t([24])), up(t([24])), 1e-5));
  const heads = keep(b.reshape(x, [6, 3, 8]));
  keep(b.rope(heads, Int32Array.from([0, 1, 2, 3, 4, 5]), { theta: 10000, rotaryDim: 6 }));
  keep(b.embedding(sq, Int32Array.from([3, 1, 3])));
  keep(b.attention(heads, heads, heads, { causal: true }));
  keep(b.transpose(x, [1, 0]));
  keep(b.slice(x, [1, 2], [2, -1]));
  keep(b.concat([x, x], 0));
  keep(b.reduce(x, 'sumsq'));
  keep(b.argmax(x));
  keep(b.choleskySolve(up(spd), up(t([2, 8, 3]))));
  const e = b.eigh(keep(b.add(sq, keep(b.transpose(sq, [1, 0])))));
  keep(e.values);
  keep(e.vectors);
  const svd = b.truncatedSvd(sq, 4);
  made.push(svd.U, svd.S, svd.V);
  return made;
}

describe('tfjs memory', () => {
  it('every operation frees its intermediates: tf.memory().numTensors comes back after dispose, round after round', async () => {
    const base = tf.memory().numTensors;
    const counts: number[] = [];
    for (let round = 0; round < 4; round++) {
      const made = everyOperation(be);
      // everything made is really there while held
      expect(tf.memory().numTensors).toBeGreaterThan(base);
      await be.download(made[made.length - 1]);
      for (const h of made) be.dispose(h);
      counts.push(tf.memory().numTensors);
    }
    expect(counts).toEqual([base, base, base, base]);
  });

  it('dispose frees the tensor at once, is safe twice, and a disposed handle is refused by name', async () => {
    const base = tf.memory().numTensors;
    const h = be.upload(Tensor.filled([100, 100], 1));
    expect(tf.memory().numTensors).toBe(base + 1);
    expect(tf.memory().numBytes).toBeGreaterThanOrEqual(40_000);
    be.dispose(h);
    be.dispose(h);
    expect(tf.memory().numTensors).toBe(base);
    expect(() => be.unary(h, 'exp')).toThrow(/unary input 0 was disposed/);
    await expect(be.download(h)).rejects.toThrow(/disposed/);
  });

  it('reshape shares the data: each handle frees independently', async () => {
    const base = tf.memory().numTensors;
    const buffers = tf.memory().numDataBuffers;
    const h = be.upload(t([4, 6]));
    const r = be.reshape(h, [2, -1]);
    expect(r.shape).toEqual([2, 12]);
    expect(tf.memory().numTensors - base).toBe(2);
    expect(tf.memory().numDataBuffers - buffers).toBe(1);
    be.dispose(h);
    expect((await be.download(r)).shape).toEqual([2, 12]);
    be.dispose(r);
    expect(tf.memory().numTensors).toBe(base);
    expect(tf.memory().numDataBuffers).toBe(buffers);
  });

  it("outputs survive a caller's tf.tidy, and are freed by dispose", async () => {
    const base = tf.memory().numTensors;
    const x = t([3, 4]);
    let y = {} as BackendTensor;
    tf.tidy(() => {
      const h = be.upload(x);
      y = be.scale(h, 2);
      be.dispose(h);
      // scratch of the caller's own: freed by the tidy, unlike the backend's outputs
      tf.ones([8]);
    });
    expect(tf.memory().numTensors).toBe(base + 1);
    expect(Array.from((await be.download(y)).data)).toEqual(Array.from(x.data, (v) => Math.fround(v * 2)));
    be.dispose(y);
    expect(tf.memory().numTensors).toBe(base);
  });

  it('upload and download copy: neither side aliases the other', async () => {
    const x = Tensor.filled([2, 2], 3);
    const h = be.upload(x);
    x.data.fill(7);
    const once = await be.download(h);
    once.data.fill(9);
    expect(Array.from((await be.download(h)).data)).toEqual([3, 3, 3, 3]);
    be.dispose(h);
  });

  it("rejects another backend's handles and host tensors where handles belong", () => {
    const cpu = new CpuBackend();
    const foreign = cpu.upload(Tensor.filled([2, 2], 1));
    expect(() => be.add(foreign, foreign)).toThrow(InvalidArgumentError);
    expect(() => be.add(foreign, foreign)).toThrow(/add input 0 is not a tensor of this backend/);
    expect(() => be.upload({ shape: [1], dtype: 'float32' } as unknown as Tensor)).toThrow(/host Tensor/);
  });

  it('close frees every tensor the backend still holds and refuses work afterwards', async () => {
    const other = await TfjsBackend.create({ engine: 'wasm' });
    const base = tf.memory().numTensors;
    const h = other.upload(t([5, 5]));
    other.matmul(h, h);
    other.reshape(h, [25]);
    expect(other.liveTensors).toBe(3);
    expect(tf.memory().numTensors).toBe(base + 3);
    await other.close();
    await other.close();
    expect(tf.memory().numTensors).toBe(base);
    expect(() => other.upload(t([1]))).toThrow(/after close/);
  });
});
