import { createHash } from 'node:crypto';
import type { Backend, BackendTensor, Tensor } from '@blastkit/core';
import { afterAll, describe, expect, it } from 'vitest';
import { NativeBackend } from '../src/index.js';
import { Rng, randomTensor } from './support/random.js';

// Same inputs and the same thread count give the same bytes. Every kernel cuts its work by sizes alone, never
// by the thread count (GEMMs into about 8 blocks of output rows or columns, decode products by output column,
// attention by (query, head) pairs), and each piece is computed the same way on any thread: so 1 and 2 threads
// give the same bytes too, which this file checks at sizes that take the parallel paths.

const available = NativeBackend.probe().available;

/** Each case uploads its inputs and returns the outputs to compare. */
function cases(): { name: string; run: (be: Backend) => BackendTensor[] }[] {
  const rng = new Rng(99);
  const t = (shape: number[], std = 1) => randomTensor(rng, shape, std);
  const a = t([300, 500]);
  const b = t([500, 420]);
  const xs = t([4, 2048]);
  const w = t([1024, 2048], 0.02);
  const bias = t([1024]);
  const xl = t([96, 2048]);
  const B = t([8, 128, 96]);
  const C = t([8, 96, 128]);
  const D = t([8, 8, 96]);
  const x1 = t([3, 1024]);
  const x40 = t([40, 1024]);
  const q = t([64, 8, 64]);
  const k = t([128, 2, 64]);
  const v = t([128, 2, 64]);
  const spd = t([16, 48, 48]);
  const rhs = t([16, 48, 8]);
  const sym = t([64, 64]);
  return [
    { name: 'matmul 300×500×420', run: (be) => [be.matmul(be.upload(a), be.upload(b))] },
    {
      name: 'matmul Aᵀ·Bᵀ',
      run: (be) => [be.matmul(be.upload(b), be.upload(a), { transposeA: true, transposeB: true })],
    },
    { name: 'linear decode N=4', run: (be) => [be.linear(be.upload(xs), be.upload(w), be.upload(bias))] },
    { name: 'linear prefill N=96', run: (be) => [be.linear(be.upload(xl), be.upload(w), be.upload(bias))] },
    {
      name: 'blastForward N=3 (fused) and N=40 (three passes), both directions',
      run: (be) => {
        const [Bh, Ch, Dh] = [be.upload(B), be.upload(C), be.upload(D)];
        return [
          be.blastForward(be.upload(x1), Bh, Ch, Dh),
          be.blastForward(be.upload(x40), Bh, Ch, Dh),
          be.blastForward(be.upload(x1), Bh, Ch, Dh, { transpose: true }),
          be.blastForward(be.upload(x40), Bh, Ch, Dh, { transpose: true }),
        ];
      },
    },
    {
      name: 'attention GQA prefill',
      run: (be) => [
        be.attention(be.upload(q), be.upload(k), be.upload(v), { causal: true, queryOffset: 64 }),
      ],
    },
    {
      name: 'choleskySolve 16 systems r=48',
      run: (be) => {
        const A = be.upload(spd);
        const gram = be.matmul(A, A, { transposeB: true });
        const shifted = be.add(gram, be.scale(be.upload(eye(48)), 48));
        return [be.choleskySolve(shifted, be.upload(rhs))];
      },
    },
    {
      name: 'eigh and truncatedSvd',
      run: (be) => {
        const S = be.upload(sym);
        const sym2 = be.add(S, be.transpose(S, [1, 0]));
        const e = be.eigh(sym2);
        const s = be.truncatedSvd(be.upload(a), 12);
        return [e.values, e.vectors, s.U, s.S, s.V];
      },
    },
  ];
}

function eye(n: number): Tensor {
  const rng = new Rng(1);
  const t = randomTensor(rng, [n, n]);
  t.data.fill(0);
  for (let i = 0; i < n; i++) t.data[i * n + i] = 1;
  return t;
}

/** A SHA-256 of each output's bytes (vitest's deep equality on big typed arrays is slow). */
async function bytesOf(be: Backend, outs: BackendTensor[]): Promise<string[]> {
  const result: string[] = [];
  for (const o of outs) {
    const t = await be.download(o);
    result.push(
      createHash('sha256')
        .update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))
        .digest('hex'),
    );
  }
  return result;
}

describe.runIf(available)('determinism', () => {
  const one = available ? NativeBackend.createSync({ threads: 1 }) : undefined;
  const two = available ? NativeBackend.createSync({ threads: 2 }) : undefined;
  const twoAgain = available ? NativeBackend.createSync({ threads: 2 }) : undefined;
  afterAll(() => {
    one?.close();
    two?.close();
    twoAgain?.close();
  });

  for (const c of cases()) {
    it(`${c.name}: two runs give the same bytes, on 2 threads and on 1`, async () => {
      const be1 = one as NativeBackend;
      const be2 = two as NativeBackend;
      const be2b = twoAgain as NativeBackend;
      const first = await bytesOf(be2, c.run(be2));
      const second = await bytesOf(be2, c.run(be2));
      const fresh = await bytesOf(be2b, c.run(be2b));
      const single = await bytesOf(be1, c.run(be1));
      expect(second).toEqual(first);
      expect(fresh).toEqual(first);
      expect(single).toEqual(first);
    });
  }
});
