import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { type Backend, CpuBackend, Tensor } from '@blastkit/core';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAddon, NativeBackend } from '../src/index.js';

// Bad inputs get the CPU reference's errors (same class, same message), and nothing the Backend interface can be
// given takes the process down: shapes are checked in TypeScript with core's rules, byte ranges again in the
// addon before it touches memory.

const available = NativeBackend.probe().available;
const z = (shape: number[], fill = 0) => {
  const out = new Tensor(shape);
  out.data.fill(fill);
  return out;
};
const t = (shape: number[], values: number[]) => new Tensor(shape, Float32Array.from(values));

/** Calls that must fail, each run on the reference and on the native backend. */
const BAD: { name: string; run: (be: Backend) => unknown }[] = [
  { name: 'matmul: inner sizes', run: (be) => be.matmul(be.upload(z([2, 3])), be.upload(z([4, 5]))) },
  { name: 'matmul: 2-D with 3-D', run: (be) => be.matmul(be.upload(z([2, 3])), be.upload(z([1, 3, 5]))) },
  { name: 'matmul: batches', run: (be) => be.matmul(be.upload(z([2, 3, 4])), be.upload(z([3, 4, 5]))) },
  { name: 'linear: weight rank', run: (be) => be.linear(be.upload(z([2, 3])), be.upload(z([3]))) },
  { name: 'linear: x width', run: (be) => be.linear(be.upload(z([2, 3])), be.upload(z([4, 5]))) },
  {
    name: 'linear: bias size',
    run: (be) => be.linear(be.upload(z([2, 5])), be.upload(z([4, 5])), be.upload(z([3]))),
  },
  {
    name: 'blastForward: B rank',
    run: (be) =>
      be.blastForward(
        be.upload(z([1, 8])),
        be.upload(z([2, 4])),
        be.upload(z([2, 3, 4])),
        be.upload(z([2, 2, 3])),
      ),
  },
  {
    name: 'blastForward: D size',
    run: (be) =>
      be.blastForward(
        be.upload(z([1, 8])),
        be.upload(z([2, 4, 3])),
        be.upload(z([2, 3, 4])),
        be.upload(z([2, 2, 4])),
      ),
  },
  {
    name: 'blastForward: x width, transposed',
    run: (be) =>
      be.blastForward(
        be.upload(z([1, 9])),
        be.upload(z([2, 4, 3])),
        be.upload(z([2, 3, 4])),
        be.upload(z([2, 2, 3])),
        {
          transpose: true,
        },
      ),
  },
  {
    name: 'lowRankForward: V',
    run: (be) => be.lowRankForward(be.upload(z([1, 4])), be.upload(z([3, 2])), be.upload(z([4, 3]))),
  },
  {
    name: 'monarchForward: b·r′',
    run: (be) => be.monarchForward(be.upload(z([1, 8])), be.upload(z([2, 3, 3])), be.upload(z([2, 3, 4]))),
  },
  {
    name: 'blockDiagonalForward: x',
    run: (be) => be.blockDiagonalForward(be.upload(z([1, 7])), be.upload(z([2, 3, 4]))),
  },
  { name: 'add: broadcast', run: (be) => be.add(be.upload(z([2, 3])), be.upload(z([4]))) },
  {
    name: 'mul: broadcast, higher rank',
    run: (be) => be.mul(be.upload(z([2, 3, 4])), be.upload(z([3, 3, 1]))),
  },
  { name: 'unary: unknown op', run: (be) => be.unary(be.upload(z([2])), 'cube' as never) },
  { name: 'softmax: a scalar', run: (be) => be.softmax(be.upload(z([]))) },
  { name: 'rmsNorm: weight', run: (be) => be.rmsNorm(be.upload(z([2, 4])), be.upload(z([3])), 1e-5) },
  {
    name: 'layerNorm: bias',
    run: (be) => be.layerNorm(be.upload(z([2, 4])), be.upload(z([4])), be.upload(z([5])), 1e-5),
  },
  { name: 'rope: x rank', run: (be) => be.rope(be.upload(z([2, 4])), Int32Array.of(0, 1), { theta: 1e4 }) },
  {
    name: 'rope: positions',
    run: (be) => be.rope(be.upload(z([2, 1, 4])), Int32Array.of(0), { theta: 1e4 }),
  },
  {
    name: 'rope: rotaryDim',
    run: (be) => be.rope(be.upload(z([2, 1, 4])), Int32Array.of(0, 1), { theta: 1e4, rotaryDim: 3 }),
  },
  {
    name: 'rope: invFrequencies length',
    run: (be) =>
      be.rope(be.upload(z([2, 1, 4])), Int32Array.of(0, 1), {
        theta: 1e4,
        invFrequencies: new Float32Array(3),
      }),
  },
  {
    name: 'embedding: id past the vocabulary',
    run: (be) => be.embedding(be.upload(z([5, 2])), Int32Array.of(1, 5)),
  },
  { name: 'embedding: negative id', run: (be) => be.embedding(be.upload(z([5, 2])), Int32Array.of(-1)) },
  { name: 'embedding: table rank', run: (be) => be.embedding(be.upload(z([5])), Int32Array.of(0)) },
  {
    name: 'attention: heads',
    run: (be) =>
      be.attention(be.upload(z([1, 3, 4])), be.upload(z([2, 2, 4])), be.upload(z([2, 2, 4])), {
        causal: true,
      }),
  },
  {
    name: 'attention: v shape',
    run: (be) =>
      be.attention(be.upload(z([1, 2, 4])), be.upload(z([2, 2, 4])), be.upload(z([3, 2, 4])), {
        causal: true,
      }),
  },
  { name: 'transpose: perm', run: (be) => be.transpose(be.upload(z([2, 3])), [0, 0]) },
  { name: 'transpose: perm length', run: (be) => be.transpose(be.upload(z([2, 3])), [1, 0, 2]) },
  { name: 'slice: out of range', run: (be) => be.slice(be.upload(z([4, 4])), [2, 0], [3, -1]) },
  { name: 'slice: negative begin', run: (be) => be.slice(be.upload(z([4, 4])), [-1, 0], [1, 1]) },
  { name: 'slice: entries', run: (be) => be.slice(be.upload(z([4, 4])), [0], [1]) },
  { name: 'concat: nothing', run: (be) => be.concat([], 0) },
  { name: 'concat: axis', run: (be) => be.concat([be.upload(z([2, 3]))], 2) },
  { name: 'concat: shapes', run: (be) => be.concat([be.upload(z([2, 3])), be.upload(z([2, 4]))], 0) },
  { name: 'reduce: unknown op', run: (be) => be.reduce(be.upload(z([2])), 'prod' as never) },
  { name: 'reduce: axis', run: (be) => be.reduce(be.upload(z([2, 3])), 'sum', 2) },
  { name: 'reduce: max of an empty axis', run: (be) => be.reduce(be.upload(z([2, 0])), 'max', 1) },
  { name: 'argmax: empty last axis', run: (be) => be.argmax(be.upload(z([2, 0]))) },
  { name: 'argmax: a scalar', run: (be) => be.argmax(be.upload(z([]))) },
  {
    name: 'choleskySolve: B rows',
    run: (be) => be.choleskySolve(be.upload(z([1, 3, 3])), be.upload(z([1, 4, 2]))),
  },
  {
    name: 'choleskySolve: system 1 indefinite',
    run: (be) =>
      be.choleskySolve(
        be.upload(t([2, 2, 2], [4, 0, 0, 4, 1, 0, 2, 1])),
        be.upload(t([2, 2, 1], [1, 1, 1, 1])),
      ),
  },
  {
    name: 'choleskySolve: 2-D, a zero pivot',
    run: (be) => be.choleskySolve(be.upload(t([2, 2], [1, 0, 1, 1])), be.upload(t([2, 1], [1, 1]))),
  },
  {
    name: 'choleskySolve: a NaN entry',
    run: (be) => be.choleskySolve(be.upload(t([2, 2], [2, 0, Number.NaN, 2])), be.upload(t([2, 1], [1, 1]))),
  },
  { name: 'eigh: not square', run: (be) => be.eigh(be.upload(z([2, 3]))) },
  { name: 'eigh: Infinity', run: (be) => be.eigh(be.upload(t([2, 2], [1, 0, Number.POSITIVE_INFINITY, 1]))) },
  { name: 'truncatedSvd: k', run: (be) => be.truncatedSvd(be.upload(z([3, 2])), 3) },
  { name: 'truncatedSvd: NaN', run: (be) => be.truncatedSvd(be.upload(t([1, 2], [1, Number.NaN])), 1) },
  { name: 'reshape: size', run: (be) => be.reshape(be.upload(z([2, 3])), [4, 2]) },
];

function errorOf(fn: () => unknown): Error | undefined {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  return undefined;
}

describe.runIf(available)('bad input', () => {
  const be = available ? NativeBackend.createSync({ threads: 2 }) : (undefined as never);
  const cpu = new CpuBackend();
  afterAll(() => be?.close());

  for (const c of BAD) {
    it(`${c.name}: the reference's error class and message`, () => {
      const want = errorOf(() => c.run(cpu));
      expect(want, 'the reference must reject it').toBeDefined();
      const got = errorOf(() => c.run(be));
      expect(got, 'the native backend must reject it').toBeDefined();
      expect({ name: got?.name, message: got?.message }).toEqual({
        name: want?.name,
        message: want?.message,
      });
    });
  }

  it('NaN, Infinity and empty tensors go through every elementwise kernel without trouble', async () => {
    const x = be.upload(
      t([2, 3], [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -0, 1]),
    );
    const empty = be.upload(z([0, 3]));
    for (const y of [be.softmax(x), be.unary(x, 'relu'), be.rmsNorm(x, be.upload(z([3], 1)), 1e-5)]) {
      expect((await be.download(y)).shape).toEqual([2, 3]);
    }
    expect((await be.download(be.linear(empty, be.upload(z([4, 3]))))).shape).toEqual([0, 4]);
    expect((await be.download(be.matmul(be.upload(z([2, 0])), be.upload(z([0, 3]))))).data).toEqual(
      new Float32Array(6),
    );
    expect((await be.download(be.reduce(empty, 'sum'))).data[0]).toBe(0);
    const maxNaN = await be.download(be.reduce(x, 'max', 1));
    const refNaN = new CpuBackend().reduce(t([2, 3], [Number.NaN, 1, 2, 0, -0, 1]), 'max', 1);
    expect(Number.isNaN(maxNaN.data[0])).toBe(Number.isNaN(refNaN.data[0]));
  });

  it('a disposed handle, a foreign handle and a closed backend are clear errors', () => {
    const other = NativeBackend.createSync({ threads: 1 });
    const x = be.upload(z([2, 2]));
    const y = be.upload(z([2, 2]));
    be.dispose(x);
    be.dispose(x);
    expect(() => be.add(x, y)).toThrow(/^native: add a was disposed$/);
    expect(() => be.add(y, new CpuBackend().upload(z([2, 2])))).toThrow(
      /add b is not a tensor of this backend/,
    );
    expect(() => be.add(y, other.upload(z([2, 2])))).toThrow(/add b is not a tensor of this backend/);
    expect(() => be.upload({ shape: [1], data: new Float32Array(1) } as never)).toThrow(
      /expects a host Tensor/,
    );
    other.close();
    other.close();
    expect(() => other.upload(z([1]))).toThrow(/the backend is closed/);
    expect(() => other.memory).toThrow(/the backend is closed/);
  });

  it('the addon refuses out-of-range buffers and foreign contexts itself, before touching memory', () => {
    const load = loadAddon();
    if (!load.ok) throw new Error(load.reason);
    const a = load.addon;
    const ctx = a.open(1);
    const small = a.alloc(ctx, 16);
    expect(() => a.read(ctx, small, 5)).toThrow(
      /^read: elements \[0, 5\) lie outside buffer #\d+ of 4 elements$/,
    );
    expect(() => a.matmul(ctx, small, small, small, 1, 1, 1, 2, 2, 3, false, false)).toThrow(/lie outside/);
    expect(() => a.stridedCopy(ctx, small, 0, small, 2, [2, 2], [2, 1], [2, 1])).toThrow(/lie outside/);
    expect(() => a.free(ctx, 12345)).toThrow(/does not exist/);
    expect(() => a.alloc({} as never, 4)).toThrow(
      /^alloc: the first argument is not a context of this addon$/,
    );
    expect(() => a.unary(ctx, 99, small, small, 4)).toThrow(/op = 99.* must be an integer in \[0, 10\]/);
    expect(() =>
      a.matmul(ctx, small, small, small, 1, 1, 1, 2 ** 40, 2 ** 40, 2 ** 40, false, false),
    ).toThrow(/size overflows/);
    a.close(ctx);
    expect(() => a.read(ctx, small, 1)).toThrow(/the backend is closed/);
  });
});

describe.runIf(available)('bad input in a fresh process', () => {
  it('nasty calls throw and the process lives on to exit 0', () => {
    const root = resolve(import.meta.dirname, '..');
    const out = execFileSync(process.execPath, [join(root, 'test', 'support', 'nasty-calls.mjs')], {
      cwd: root,
      encoding: 'utf8',
    });
    const lines = out.trim().split('\n');
    expect(lines.pop()).toBe('alive');
    for (const line of lines) expect(line).toMatch(/^threw \w+: /);
    expect(lines.length).toBe(6);
  });
});
