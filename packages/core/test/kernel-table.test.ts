import { describe, expect, it } from 'vitest';
import {
  type BackendTensor,
  CpuBackend,
  cpuHandoff,
  cpuKernels,
  defineBackend,
  KERNEL_NAMES,
  type KernelTable,
  NotImplementedOnBackendError,
  NotPositiveDefiniteError,
  notImplemented,
  TableBackend,
  Tensor,
} from '../src/index.js';

// A table backend over the CPU reference: the runtime is a CpuBackend and every kernel forwards to it, so the
// test checks the binding (arguments, `this`-free calls, results) rather than arithmetic.
const cpu = new CpuBackend();
const forward = Object.fromEntries(
  KERNEL_NAMES.map((op) => [
    op,
    (rt: CpuBackend, ...args: unknown[]) => (rt[op] as (...a: unknown[]) => unknown).apply(rt, args),
  ]),
) as unknown as KernelTable<CpuBackend>;

class TestBackend extends TableBackend<CpuBackend> {
  constructor(kernels: KernelTable<CpuBackend>) {
    super(
      defineBackend({
        name: 'test',
        describe: (rt) => ({ ...rt.describe(), name: 'test', engine: 'the reference, through a table' }),
        kernels,
      }),
      cpu,
    );
  }
  upload(t: Tensor): BackendTensor {
    return cpu.upload(t);
  }
  download(t: BackendTensor): Promise<Tensor> {
    return cpu.download(t);
  }
  dispose(t: BackendTensor): void {
    cpu.dispose(t);
  }
  reshape(t: BackendTensor, shape: readonly number[]): BackendTensor {
    return cpu.reshape(t, shape);
  }
}

describe('backends declared as data', () => {
  it('binds every kernel of the table, with the interface arguments, to the runtime', async () => {
    const be = new TestBackend(forward);
    expect(be.name).toBe('test');
    expect(be.specificationVersion).toBe('v1');
    expect(be.describe()).toEqual({
      name: 'test',
      device: 'cpu',
      engine: 'the reference, through a table',
      software: false,
    });
    const a = be.upload(new Tensor([2, 3], Float32Array.from([1, 2, 3, 4, 5, 6])));
    const b = be.upload(new Tensor([2, 3], Float32Array.from([1, 0, 1, 0, 1, 0])));
    const y = be.matmul(a, b, { transposeB: true });
    expect(Array.from((await be.download(y)).data)).toEqual([4, 2, 10, 5]);
    const s = be.scale(a, 2, 1);
    expect(Array.from((await be.download(s)).data)).toEqual([3, 5, 7, 9, 11, 13]);
    for (const op of KERNEL_NAMES) expect(typeof be[op]).toBe('function');
  });

  it('throws NotImplementedOnBackendError naming the operation, the backend and the reason for a gap', () => {
    const be = new TestBackend({ ...forward, eigh: notImplemented('no eigensolver on this device') });
    const A = be.upload(new Tensor([2, 2], Float32Array.from([2, 0, 0, 1])));
    expect(() => be.eigh(A)).toThrow(NotImplementedOnBackendError);
    expect(() => be.eigh(A)).toThrow(
      "operation 'eigh' is not implemented on backend test: no eigensolver on this device",
    );
  });

  it('does not compile when a kernel is missing or has the wrong signature', () => {
    const { eigh: _, ...withoutEigh } = forward;
    // @ts-expect-error: eigh is missing
    const missing: KernelTable<CpuBackend> = withoutEigh;
    // @ts-expect-error: scale takes (rt, a, alpha, beta?), not a string
    const wrong: KernelTable<CpuBackend> = { ...forward, scale: (_rt: CpuBackend, _a: string) => _a };
    expect([missing, wrong]).toHaveLength(2);
  });
});

describe('cpuHandoff', () => {
  const A = new Tensor([2, 2], Float32Array.from([4, 2, 2, 3]));
  const B = new Tensor([2, 1], Float32Array.from([2, 1]));
  const solve = (t: Tensor[]) => Array.from(t[0].data);

  it('runs the reference synchronously when the reads are synchronous', () => {
    const got = cpuHandoff(
      'choleskySolve',
      [A.reshape([1, 2, 2]), B.reshape([1, 2, 1])],
      {},
      (t) => t,
      solve,
    );
    const want = cpuKernels.choleskySolve(A.reshape([1, 2, 2]), B.reshape([1, 2, 1]));
    expect(got).toEqual(Array.from(want.data));
  });

  it('returns a promise when the reads are asynchronous, reading the inputs in order', async () => {
    const order: number[] = [];
    const read = async (i: number) => {
      order.push(i);
      return [A.reshape([1, 2, 2]), B.reshape([1, 2, 1])][i];
    };
    const got = await cpuHandoff('choleskySolve', [0, 1], {}, read, solve);
    expect(order).toEqual([0, 1]);
    expect(got).toHaveLength(2);
  });

  it('gives the outputs in the interface order and passes truncatedSvd its rank', () => {
    const [U, S, V] = cpuHandoff(
      'truncatedSvd',
      [A],
      { k: 1 },
      (t) => t,
      (r) => r,
    );
    expect([U.shape, S.shape, V.shape]).toEqual([[2, 1], [1], [2, 1]]);
    const [values, vectors] = cpuHandoff(
      'eigh',
      [A],
      {},
      (t) => t,
      (r) => r,
    );
    expect([values.shape, vectors.shape]).toEqual([[2], [2, 2]]);
  });

  it('throws the reference error from the call when synchronous', () => {
    const notSpd = new Tensor([1, 2, 2], Float32Array.from([1, 2, 2, 1]));
    expect(() => cpuHandoff('choleskySolve', [notSpd, B.reshape([1, 2, 1])], {}, (t) => t, solve)).toThrow(
      NotPositiveDefiniteError,
    );
  });
});
