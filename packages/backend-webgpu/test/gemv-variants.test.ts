import { CpuBackend, Rng, type Tensor } from '@blastkit/core';
import { closeness, randomTensor } from '@blastkit/core/test';
import { afterAll, afterEach, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest';
import { WebGpuBackend } from '../src/index.js';
import { type GemvVariant, gemvVariant } from '../src/kernels/gemm.js';
import { Runtime } from '../src/runtime.js';
import { TEST_ADAPTER } from './adapter.js';

// The row-wise matrix-vector product has two kernels: the cooperative one (32 lanes per output, a tree over
// barriers) for GPUs and the barrier-free one (an invocation per output) for software adapters. The adapter
// picks one, so a machine only ever runs its own: here each is forced through BLASTKIT_WEBGPU_GEMV and checked
// against the CPU reference on the shapes decode produces, in both its vec4 and scalar forms.
const cpu = new CpuBackend();
const rng = new Rng(77);
const tol = { relative: 1e-5, absolute: 1e-6 };
const ENV = 'BLASTKIT_WEBGPU_GEMV';
const saved = process.env[ENV];
const restoreEnv = () => {
  if (saved === undefined) delete process.env[ENV];
  else process.env[ENV] = saved;
};

describe('gemvVariant', () => {
  afterEach(restoreEnv);
  const rt = (adapter: string) => ({ adapter }) as Runtime;
  const llvmpipe = 'dawn opengles (compatibility): llvmpipe-llvm-15-0-6-256-bits- OpenGL ES 3.2 Mesa 22.3.6';

  it('is per-row on software adapters and cooperative on GPUs', () => {
    delete process.env[ENV];
    expect(gemvVariant(rt(llvmpipe))).toBe('rows');
    expect(gemvVariant(rt('Google SwiftShader'))).toBe('rows');
    expect(gemvVariant(rt('dawn vulkan: nvidia hopper NVIDIA H100 80GB HBM3'))).toBe('cooperative');
    expect(gemvVariant(rt('caller-provided device'))).toBe('cooperative');
  });

  it('follows BLASTKIT_WEBGPU_GEMV and rejects other values', () => {
    process.env[ENV] = 'cooperative';
    expect(gemvVariant(rt(llvmpipe))).toBe('cooperative');
    process.env[ENV] = 'rows';
    expect(gemvVariant(rt('dawn vulkan: NVIDIA H100'))).toBe('rows');
    process.env[ENV] = 'fast';
    expect(() => gemvVariant(rt(llvmpipe))).toThrow(/rows' or 'cooperative/);
  });
});

for (const variant of ['rows', 'cooperative'] as GemvVariant[]) {
  describe(`matrix-vector products with BLASTKIT_WEBGPU_GEMV=${variant} (${TEST_ADAPTER} adapter)`, () => {
    let gpu: WebGpuBackend;
    // a spy that calls through: the program keys the runtime dispatched show which kernel ran
    let run: MockInstance<Runtime['run']>;
    beforeAll(async () => {
      process.env[ENV] = variant;
      run = vi.spyOn(Runtime.prototype, 'run');
      gpu = await WebGpuBackend.create({ adapter: TEST_ADAPTER });
    });
    afterAll(async () => {
      vi.restoreAllMocks();
      restoreEnv();
      await gpu?.close();
    });

    const check = async (got: ReturnType<WebGpuBackend['matmul']>, want: Tensor, what: string) => {
      expect(closeness(await gpu.download(got), want, tol), what).toBeNull();
    };

    it('linear: 1–8 rows, with and without bias, K a multiple of 4 (vec4) or not (scalar)', async () => {
      for (const M of [1, 3, 8]) {
        for (const [K, N] of [
          [288, 70],
          [93, 37],
        ]) {
          const x = randomTensor([M, K], rng);
          const w = randomTensor([N, K], rng);
          const bias = randomTensor([N], rng);
          await check(gpu.linear(gpu.upload(x), gpu.upload(w)), cpu.linear(x, w), `M=${M} K=${K} N=${N}`);
          await check(
            gpu.linear(gpu.upload(x), gpu.upload(w), gpu.upload(bias)),
            cpu.linear(x, w, bias),
            `M=${M} K=${K} N=${N} with bias`,
          );
        }
      }
    });

    it('matmul with Bᵀ: transposed A, batched, broadcast batch', async () => {
      const opts = { transposeB: true };
      const at = randomTensor([64, 5], rng);
      const b = randomTensor([33, 64], rng);
      const both = { transposeA: true, transposeB: true };
      await check(gpu.matmul(gpu.upload(at), gpu.upload(b), both), cpu.matmul(at, b, both), 'Aᵀ·Bᵀ');
      const a3 = randomTensor([3, 2, 64], rng);
      const b3 = randomTensor([3, 50, 64], rng);
      await check(gpu.matmul(gpu.upload(a3), gpu.upload(b3), opts), cpu.matmul(a3, b3, opts), 'batched');
      const b1 = randomTensor([1, 24, 64], rng);
      await check(gpu.matmul(gpu.upload(a3), gpu.upload(b1), opts), cpu.matmul(a3, b1, opts), 'broadcast B');
    });

    it('BLAST and low-rank forwards at decode (GEMMs on offsets into blocks)', async () => {
      // 1200×1200, b = 4, r = 112: factors past the fused decode kernel's 2¹⁸ floats, so both products are
      // batched GEMMs over the blocks (B's and C's blocks at offsets of one buffer)
      const [B, C, D] = [
        randomTensor([4, 300, 112], rng),
        randomTensor([4, 112, 300], rng),
        randomTensor([4, 4, 112], rng),
      ];
      for (const N of [1, 3]) {
        const x = randomTensor([N, 1200], rng);
        await check(
          gpu.blastForward(gpu.upload(x), gpu.upload(B), gpu.upload(C), gpu.upload(D)),
          cpu.blastForward(x, B, C, D),
          `blast N=${N}`,
        );
      }
      const [U, V] = [randomTensor([80, 12], rng), randomTensor([96, 12], rng)];
      const x = randomTensor([2, 96], rng);
      await check(
        gpu.lowRankForward(gpu.upload(x), gpu.upload(U), gpu.upload(V)),
        cpu.lowRankForward(x, U, V),
        'low-rank N=2',
      );
    });

    it(`ran the ${variant} kernel and never the other`, () => {
      const keys = new Set(run.mock.calls.map(([program]) => program.key));
      const perRow = [...keys].filter((k) => k.startsWith('gemv-per-row:'));
      const cooperative = [...keys].filter((k) => k.startsWith('gemv-rows:'));
      if (variant === 'rows') {
        expect(cooperative).toEqual([]);
        // both forms of the per-row kernel were reached
        expect(perRow.some((k) => k.endsWith(':vec4=1'))).toBe(true);
        expect(perRow.some((k) => k.endsWith(':vec4=0'))).toBe(true);
      } else {
        expect(perRow).toEqual([]);
        expect(cooperative.length).toBeGreaterThan(0);
      }
    });
  });
}
