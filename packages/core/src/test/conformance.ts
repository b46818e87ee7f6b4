import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, BackendTensor } from '../backend/backend.js';
import {
  KERNEL_NAMES,
  type KernelName,
  REDUCE_OPS,
  type ReduceOp,
  UNARY_OPS,
  type UnaryOp,
} from '../backend/kernel-names.js';
import { CpuBackend } from '../cpu/cpu-backend.js';
import { NotImplementedOnBackendError } from '../errors.js';
import { Rng } from '../random/rng.js';
import { Tensor } from '../tensor/tensor.js';
import { closeness, randomTensor, type Tolerance } from './expect-close.js';
import { type GoldenCase, loadGolden } from './fixtures.js';

export interface ConformanceOptions {
  /** Shown in the test names, e.g. 'webgpu (opengles)'. */
  name: string;
  createBackend: () => Backend | Promise<Backend>;
  /** Default tolerance for every kernel (CPU: relative 1e-5, absolute 1e-6). */
  tolerance?: Partial<Tolerance>;
  /** Looser or tighter tolerances per kernel, e.g. { attention: { relative: 1e-4 } }. */
  kernelTolerance?: Partial<Record<KernelName, Partial<Tolerance>>>;
  /**
   * Kernels this backend does not implement, each with the reason. For these the suite checks that the
   * backend throws NotImplementedOnBackendError, so a gap stays a named, deliberate gap.
   */
  knownGaps?: Partial<Record<KernelName, string>>;
  /**
   * The backend under test is the CPU reference itself: the random-input cross-checks would compare it with
   * itself, so they are left out (the golden-data and bad-input checks still run). Without this flag a plain
   * CpuBackend is recognised when the suite runs, and those checks are reported as skipped, not passed.
   */
  reference?: boolean;
}

type Outputs = Record<string, BackendTensor>;

/** Runs one golden case of `op` on the backend; inputs and attrs are named as in the fixture files. */
function runGolden(backend: Backend, op: KernelName, c: GoldenCase): Outputs {
  const up = (name: string) => {
    const t = c.inputs[name];
    if (!t) throw new Error(`fixture ${op}/${c.name}: missing input '${name}'`);
    return backend.upload(t);
  };
  const a = c.attrs as Record<string, never>;
  const ints = (v: unknown) => Int32Array.from(v as number[]);
  switch (op) {
    case 'matmul':
      return { y: backend.matmul(up('a'), up('b'), { transposeA: a.transposeA, transposeB: a.transposeB }) };
    case 'linear':
      return { y: backend.linear(up('x'), up('weight'), c.inputs.bias ? up('bias') : undefined) };
    case 'blastForward':
      return { y: backend.blastForward(up('x'), up('B'), up('C'), up('D'), { transpose: a.transpose }) };
    case 'lowRankForward':
      return { y: backend.lowRankForward(up('x'), up('U'), up('V')) };
    case 'monarchForward':
      return { y: backend.monarchForward(up('x'), up('L'), up('R')) };
    case 'blockDiagonalForward':
      return { y: backend.blockDiagonalForward(up('x'), up('blocks')) };
    case 'add':
    case 'sub':
    case 'mul':
      return { y: backend[op](up('a'), up('b')) };
    case 'scale':
      return { y: backend.scale(up('a'), a.alpha, a.beta) };
    case 'unary':
      return { y: backend.unary(up('x'), a.op as UnaryOp) };
    case 'softmax':
      return { y: backend.softmax(up('x')) };
    case 'rmsNorm':
      return { y: backend.rmsNorm(up('x'), up('weight'), a.eps) };
    case 'layerNorm':
      return { y: backend.layerNorm(up('x'), up('weight'), up('bias'), a.eps) };
    case 'rope':
      return {
        y: backend.rope(up('x'), ints(a.positions), {
          theta: a.theta,
          interleaved: a.interleaved,
          rotaryDim: a.rotaryDim,
          positionScale: a.positionScale,
        }),
      };
    case 'embedding':
      return { y: backend.embedding(up('table'), ints(a.ids)) };
    case 'attention':
      return {
        y: backend.attention(up('q'), up('k'), up('v'), {
          causal: a.causal,
          scale: a.scale,
          queryOffset: a.queryOffset,
        }),
      };
    case 'transpose':
      return { y: backend.transpose(up('x'), a.perm) };
    case 'slice':
      return { y: backend.slice(up('x'), a.begin, a.size) };
    case 'concat': {
      const count = (a.count as number | undefined) ?? Object.keys(c.inputs).length;
      return {
        y: backend.concat(
          Array.from({ length: count }, (_, i) => up(`x${i}`)),
          a.axis,
        ),
      };
    }
    case 'reduce':
      return { y: backend.reduce(up('x'), a.op as ReduceOp, a.axis ?? undefined) };
    case 'argmax':
      return { y: backend.argmax(up('x')) };
    case 'choleskySolve':
      return { X: backend.choleskySolve(up('A'), up('B')) };
    case 'eigh': {
      const r = backend.eigh(up('A'));
      return { values: r.values, vectors: r.vectors };
    }
    case 'truncatedSvd': {
      const r = backend.truncatedSvd(up('A'), a.k);
      return { U: r.U, S: r.S, V: r.V };
    }
  }
}

/**
 * Random-input checks against the CPU reference at sizes past the golden files' (tile edges, real layer
 * shapes scaled down). Each entry runs one kernel on both backends with the same inputs.
 */
function crossChecks(rng: Rng): { kernel: KernelName; name: string; run: (b: Backend) => Outputs }[] {
  const t = (shape: number[], std = 1) => randomTensor(shape, rng, std);
  const spd = (batch: number, r: number) => {
    const m = t([batch, r, r]);
    const cpu = new CpuBackend();
    const gram = cpu.matmul(m, m, { transposeB: true });
    for (let k = 0; k < batch; k++) for (let i = 0; i < r; i++) gram.data[(k * r + i) * r + i] += r;
    return gram;
  };
  const symmetric = (n: number) => {
    const m = t([n, n]);
    const s = new Tensor([n, n]);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) s.data[i * n + j] = m.data[i * n + j] + m.data[j * n + i];
    return s;
  };
  const checks: { kernel: KernelName; name: string; run: (b: Backend) => Outputs }[] = [];
  for (const [ta, tb] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    const a = t(ta ? [129, 67] : [67, 129]);
    const b = t(tb ? [93, 129] : [129, 93]);
    checks.push({
      kernel: 'matmul',
      name: `67×129×93 ${ta ? 'Aᵀ' : 'A'}·${tb ? 'Bᵀ' : 'B'}`,
      run: (be) => ({ y: be.matmul(be.upload(a), be.upload(b), { transposeA: ta, transposeB: tb }) }),
    });
  }
  {
    const a = t([5, 33, 70]);
    const b = t([5, 70, 41]);
    checks.push({
      kernel: 'matmul',
      name: 'batched 5×33×70×41',
      run: (be) => ({ y: be.matmul(be.upload(a), be.upload(b)) }),
    });
  }
  for (const N of [1, 3, 40]) {
    const x = t([N, 288]);
    const w = t([768, 288], 0.05);
    const bias = t([768]);
    checks.push({
      kernel: 'linear',
      name: `stories15M w1 shape, N=${N}`,
      run: (be) => ({ y: be.linear(be.upload(x), be.upload(w), be.upload(bias)) }),
    });
  }
  for (const [N, transpose] of [
    [1, false],
    [37, false],
    [37, true],
  ] as const) {
    const b = 4;
    const r = 24;
    const B = t([b, 192 / b, r]);
    const C = t([b, r, 64 / b]);
    const D = t([b, b, r]);
    const x = t([N, transpose ? 192 : 64]);
    checks.push({
      kernel: 'blastForward',
      name: `192×64 b=4 r=24 N=${N}${transpose ? ' transposed' : ''}`,
      run: (be) => ({
        y: be.blastForward(be.upload(x), be.upload(B), be.upload(C), be.upload(D), { transpose }),
      }),
    });
  }
  {
    const x = t([17, 96]);
    const U = t([80, 12]);
    const V = t([96, 12]);
    checks.push({
      kernel: 'lowRankForward',
      name: '80×96 r=12',
      run: (be) => ({ y: be.lowRankForward(be.upload(x), be.upload(U), be.upload(V)) }),
    });
    const L = t([4, 20, 8]);
    const R = t([4, 8, 24]);
    checks.push({
      kernel: 'monarchForward',
      name: '80×96 b=4 r′=2',
      run: (be) => ({ y: be.monarchForward(be.upload(x), be.upload(L), be.upload(R)) }),
    });
    const blocks = t([4, 20, 24]);
    checks.push({
      kernel: 'blockDiagonalForward',
      name: '80×96 b=4',
      run: (be) => ({ y: be.blockDiagonalForward(be.upload(x), be.upload(blocks)) }),
    });
  }
  {
    const a = t([9, 130]);
    const row = t([130]);
    for (const op of ['add', 'sub', 'mul'] as const) {
      checks.push({
        kernel: op,
        name: `[9,130] with [130]`,
        run: (be) => ({ y: be[op](be.upload(a), be.upload(row)) }),
      });
    }
    checks.push({ kernel: 'scale', name: '[9,130]', run: (be) => ({ y: be.scale(be.upload(a), -0.5, 2) }) });
    for (const op of UNARY_OPS) {
      const x = op === 'sqrt' ? new Tensor(a.shape, a.data.map(Math.abs)) : a;
      checks.push({ kernel: 'unary', name: op, run: (be) => ({ y: be.unary(be.upload(x), op) }) });
    }
    checks.push({ kernel: 'softmax', name: '[9,130]', run: (be) => ({ y: be.softmax(be.upload(a)) }) });
    const w = t([130]);
    const bias = t([130]);
    checks.push({
      kernel: 'rmsNorm',
      name: '[9,130]',
      run: (be) => ({ y: be.rmsNorm(be.upload(a), be.upload(w), 1e-5) }),
    });
    checks.push({
      kernel: 'layerNorm',
      name: '[9,130]',
      run: (be) => ({ y: be.layerNorm(be.upload(a), be.upload(w), be.upload(bias), 1e-5) }),
    });
    for (const op of REDUCE_OPS) {
      checks.push({
        kernel: 'reduce',
        name: `${op} axis 1`,
        run: (be) => ({ y: be.reduce(be.upload(a), op, 1) }),
      });
      checks.push({ kernel: 'reduce', name: `${op} all`, run: (be) => ({ y: be.reduce(be.upload(a), op) }) });
    }
    checks.push({ kernel: 'argmax', name: '[9,130]', run: (be) => ({ y: be.argmax(be.upload(a)) }) });
    checks.push({
      kernel: 'transpose',
      name: '[9,130] 2-D',
      run: (be) => ({ y: be.transpose(be.upload(a), [1, 0]) }),
    });
    checks.push({
      kernel: 'slice',
      name: '[9,130] rows 2..6, cols 10..',
      run: (be) => ({ y: be.slice(be.upload(a), [2, 10], [4, -1]) }),
    });
    checks.push({
      kernel: 'concat',
      name: 'axis 0 and 1',
      run: (be) => ({
        y0: be.concat([be.upload(a), be.upload(a)], 0),
        y1: be.concat([be.upload(a), be.upload(a)], 1),
      }),
    });
  }
  for (const interleaved of [false, true]) {
    const x = t([7, 6, 48]);
    const positions = Int32Array.from([0, 1, 2, 3, 100, 255, 7]);
    checks.push({
      kernel: 'rope',
      name: `interleaved=${interleaved}`,
      run: (be) => ({ y: be.rope(be.upload(x), positions, { theta: 10000, interleaved }) }),
    });
  }
  {
    const table = t([50, 24]);
    const ids = Int32Array.from([3, 49, 0, 3, 17]);
    checks.push({
      kernel: 'embedding',
      name: '[50,24]',
      run: (be) => ({ y: be.embedding(be.upload(table), ids) }),
    });
    const q = t([6, 8, 16]);
    const k = t([11, 2, 16]);
    const v = t([11, 2, 16]);
    checks.push({
      kernel: 'attention',
      name: 'GQA 8/2 causal prefill chunk',
      run: (be) => ({
        y: be.attention(be.upload(q), be.upload(k), be.upload(v), { causal: true, queryOffset: 5 }),
      }),
    });
    // queries before the first key (a negative offset) see no key at all: their output is zero, not NaN
    checks.push({
      kernel: 'attention',
      name: 'causal, the first two queries see no key',
      run: (be) => ({
        y: be.attention(be.upload(q), be.upload(k), be.upload(v), { causal: true, queryOffset: -2 }),
      }),
    });
  }
  {
    const A = spd(20, 16);
    const B = t([20, 16, 5]);
    checks.push({
      kernel: 'choleskySolve',
      name: '20 systems r=16',
      run: (be) => ({ X: be.choleskySolve(be.upload(A), be.upload(B)) }),
    });
    const S = symmetric(24);
    checks.push({
      kernel: 'eigh',
      name: 'values of a random symmetric 24×24',
      run: (be) => ({ values: be.eigh(be.upload(S)).values }),
    });
    const M = t([40, 28]);
    checks.push({
      kernel: 'truncatedSvd',
      name: 'singular values of a random 40×28, k=10',
      run: (be) => ({ S: be.truncatedSvd(be.upload(M), 10).S }),
    });
  }
  return checks;
}

/** Arguments that every backend must reject with a clear error naming the operation. */
function badShapeChecks(): {
  kernel: KernelName;
  name: string;
  run: (b: Backend) => unknown;
  message: RegExp;
}[] {
  const z = (shape: number[]) => new Tensor(shape);
  return [
    {
      kernel: 'matmul',
      name: 'inner dimensions differ',
      run: (be) => be.matmul(be.upload(z([2, 3])), be.upload(z([4, 5]))),
      message: /matmul/,
    },
    {
      kernel: 'linear',
      name: 'x width ≠ weight columns',
      run: (be) => be.linear(be.upload(z([2, 3])), be.upload(z([4, 5]))),
      message: /linear/,
    },
    {
      kernel: 'blastForward',
      name: 'D of the wrong size',
      run: (be) =>
        be.blastForward(
          be.upload(z([1, 8])),
          be.upload(z([2, 4, 3])),
          be.upload(z([2, 3, 4])),
          be.upload(z([2, 2, 4])),
        ),
      message: /D/,
    },
    {
      kernel: 'add',
      name: 'shapes that do not broadcast',
      run: (be) => be.add(be.upload(z([2, 3])), be.upload(z([4]))),
      message: /broadcast/,
    },
    {
      kernel: 'choleskySolve',
      name: 'B rows ≠ A size',
      run: (be) => be.choleskySolve(be.upload(z([1, 3, 3])), be.upload(z([1, 4, 2]))),
      message: /choleskySolve/,
    },
  ];
}

/**
 * The backend conformance suite: golden data from PyTorch for every kernel, random-input checks against the
 * CPU reference, and bad-input checks. Call it from a test file of the backend's package:
 *
 *   describeBackendConformance({ name: 'webgpu', createBackend: () => createWebGpuBackend(), tolerance: { relative: 1e-4 } });
 */
export function describeBackendConformance(options: ConformanceOptions): void {
  const gaps = options.knownGaps ?? {};
  const tolOf = (kernel: KernelName): Tolerance => ({
    relative: options.kernelTolerance?.[kernel]?.relative ?? options.tolerance?.relative ?? 1e-5,
    absolute: options.kernelTolerance?.[kernel]?.absolute ?? options.tolerance?.absolute ?? 1e-6,
  });

  describe(`backend conformance: ${options.name}`, () => {
    let backend: Backend;
    const reference = new CpuBackend();
    beforeAll(async () => {
      backend = await options.createBackend();
    });
    afterAll(async () => {
      await backend?.close?.();
    });

    async function compare(kernel: KernelName, outputs: Outputs, expected: Record<string, Tensor>) {
      for (const [name, want] of Object.entries(expected)) {
        const handle = outputs[name];
        expect(handle, `output '${name}'`).toBeDefined();
        const got = await backend.download(handle);
        const problem = closeness(got, want, tolOf(kernel));
        expect(problem, `${kernel} output '${name}'`).toBeNull();
      }
    }

    it('declares specification v1 and a name', () => {
      expect(backend.specificationVersion).toBe('v1');
      expect(typeof backend.name).toBe('string');
    });

    for (const kernel of KERNEL_NAMES) {
      const gap = gaps[kernel];
      describe(kernel, () => {
        if (gap) {
          it(`is a declared gap (${gap}) and throws NotImplementedOnBackendError`, () => {
            const golden = loadGolden(kernel);
            expect(() => runGolden(backend, kernel, golden.cases[0])).toThrow(NotImplementedOnBackendError);
          });
          return;
        }
        const fileOp = kernel;
        const golden = loadGolden(fileOp);
        for (const c of golden.cases) {
          it(`matches ${golden.generator.split(',')[0]}: ${c.name}`, async () => {
            await compare(kernel, runGolden(backend, kernel, c), c.outputs);
          });
        }
      });
    }

    // the reference against itself proves nothing: no such tests for it
    if (!options.reference)
      describe('against the CPU reference', () => {
        const rng = new Rng(1234);
        for (const check of crossChecks(rng)) {
          if (gaps[check.kernel]) continue;
          it(`${check.kernel}: ${check.name}`, async (context) => {
            // the reference against itself proves nothing: not a passed test
            if (Object.getPrototypeOf(backend) === CpuBackend.prototype) context.skip();
            const expected: Record<string, Tensor> = {};
            for (const [k, v] of Object.entries(check.run(reference)))
              expected[k] = await reference.download(v);
            await compare(check.kernel, check.run(backend), expected);
          });
        }
      });

    describe('bad input', () => {
      for (const check of badShapeChecks()) {
        if (gaps[check.kernel]) continue;
        it(`${check.kernel} rejects ${check.name}`, () => {
          expect(() => check.run(backend)).toThrow(check.message);
        });
      }
    });
  });
}
