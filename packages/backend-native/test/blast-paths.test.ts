import { CpuBackend } from '@blastkit/core';
import { closeness } from '@blastkit/core/test';
import { afterAll, describe, expect, it } from 'vitest';
import { NativeBackend } from '../src/index.js';
import { Rng, randomTensor } from './support/random.js';

// blastForward takes the fused decode kernel for N ≤ 8 (the three stages per block, each parameter read once)
// and three passes (batched GEMMs around the mixing step) from N = 9. Both paths against each other and against
// the CPU reference, on a layer big enough to run in parallel.

const available = NativeBackend.probe().available;

describe.runIf(available)('BLAST forward: fused decode vs three passes', () => {
  const be = available ? NativeBackend.createSync({ threads: 2 }) : (undefined as never);
  const cpu = new CpuBackend();
  afterAll(() => be?.close());
  const rng = new Rng(5);
  const b = 8;
  const [p, q, r] = [48, 40, 64];
  const B = randomTensor(rng, [b, p, r]);
  const C = randomTensor(rng, [b, r, q]);
  const D = randomTensor(rng, [b, b, r]);
  const [Bh, Ch, Dh] = [be?.upload(B), be?.upload(C), be?.upload(D)];

  for (const transpose of [false, true]) {
    for (const N of [1, 2, 3, 4, 5, 6, 7, 8, 9]) {
      it(`N=${N}${transpose ? ', transposed' : ''}: the paths agree with each other and the reference`, async () => {
        const x = randomTensor(rng, [N, transpose ? b * p : b * q]);
        const xh = be.upload(x);
        const auto = await be.download(be.blastForward(xh, Bh, Ch, Dh, { transpose }));
        const three = await be.download(be.blastForwardPath(xh, Bh, Ch, Dh, { transpose }, 'three-pass'));
        const want = cpu.blastForward(x, B, C, D, { transpose });
        expect(closeness(auto, want, { relative: 1e-5, absolute: 1e-6 })).toBeNull();
        expect(closeness(three, want, { relative: 1e-5, absolute: 1e-6 })).toBeNull();
        if (N <= 8) {
          const fused = await be.download(be.blastForwardPath(xh, Bh, Ch, Dh, { transpose }, 'fused'));
          // auto routes N ≤ 8 to the fused kernel
          expect(Buffer.from(auto.data.buffer).equals(Buffer.from(fused.data.buffer))).toBe(true);
          expect(closeness(fused, three, { relative: 1e-6, absolute: 1e-6 })).toBeNull();
        } else {
          // and N ≥ 9 to the three passes; the fused kernel refuses it
          expect(Buffer.from(auto.data.buffer).equals(Buffer.from(three.data.buffer))).toBe(true);
          expect(() => be.blastForwardPath(xh, Bh, Ch, Dh, { transpose }, 'fused')).toThrow(/at most 8 rows/);
        }
      });
    }
  }
});
