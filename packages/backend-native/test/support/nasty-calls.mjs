// Run by bad-input.test.ts in a fresh process: each call must throw an Error, never end the process.
import { CpuBackend, Tensor } from '@blastkit/core';
import { NativeBackend } from '../../dist/index.js';

const be = NativeBackend.createSync({ threads: 2 });
const z = (shape) => new Tensor(shape);
const disposed = be.upload(z([2, 2]));
be.dispose(disposed);
const calls = [
  () => be.matmul(disposed, be.upload(z([2, 2]))),
  () => be.linear(new CpuBackend().upload(z([2, 2])), be.upload(z([2, 2]))),
  () => be.slice(be.upload(z([3, 3])), [1, 1], [3, 3]),
  () => be.add(be.upload(z([2, 3])), be.upload(z([3, 2]))),
  () =>
    be.attention(be.upload(z([1, 2, 4])), be.upload(z([2, 0, 4])), be.upload(z([2, 0, 4])), { causal: true }),
  () =>
    be.blastForward(
      be.upload(z([1, 8])),
      be.upload(z([2, 4, 3])),
      be.upload(z([2, 3, 4])),
      be.upload(z([2, 3, 3])),
    ),
];
for (const call of calls) {
  try {
    call();
    console.log('did not throw');
  } catch (err) {
    console.log(`threw ${err.name}: ${err.message}`);
  }
}
be.close();
console.log('alive');
