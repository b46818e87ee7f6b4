import { CpuBackend, Rng, Tensor } from '@blastkit/core';
import { closeness, randomTensor } from '@blastkit/core/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GEMM_TILING_128, GEMM_TILING_SMALL, type GemmTiling, WebGpuBackend } from '../src/index.js';
import { TEST_ADAPTER } from './adapter.js';

// The kernel paths the shared suite's shapes do not all reach: the matrix-vector kernels (≤ 8 rows) in both
// layouts of B with k split over workgroups, every register tiling, BLAST at decode and prefill sizes with
// several block counts, weights past the binding cap, and the batching of dispatches into one submit.
const cpu = new CpuBackend();
const rng = new Rng(2024);
const tol = { relative: 1e-5, absolute: 1e-6 };

async function check(
  gpu: WebGpuBackend,
  got: ReturnType<WebGpuBackend['matmul']>,
  want: Tensor,
  what: string,
) {
  expect(closeness(await gpu.download(got), want, tol), what).toBeNull();
}

describe('webgpu kernels (software adapter)', () => {
  let gpu: WebGpuBackend;
  beforeAll(async () => {
    gpu = await WebGpuBackend.create({ adapter: TEST_ADAPTER });
  });
  afterAll(async () => {
    await gpu?.close();
  });

  it('matrix-vector kernels: 1–8 rows, both layouts of each operand, k split over workgroups', async () => {
    // K = 1100 splits k into 3 slices in the column-wise kernel; N = 70 leaves partial workgroups
    for (const M of [1, 3, 8]) {
      for (const [K, N] of [
        [37, 5],
        [1100, 70],
      ]) {
        for (const transposeA of [false, true]) {
          for (const transposeB of [false, true]) {
            const a = randomTensor(transposeA ? [K, M] : [M, K], rng);
            const b = randomTensor(transposeB ? [N, K] : [K, N], rng);
            const opts = { transposeA, transposeB };
            const got = gpu.matmul(gpu.upload(a), gpu.upload(b), opts);
            await check(gpu, got, cpu.matmul(a, b, opts), `M=${M} K=${K} N=${N} ${JSON.stringify(opts)}`);
          }
        }
      }
    }
  });

  it('matrix-vector kernels batched, and linear with a bias at one row', async () => {
    const a = randomTensor([3, 2, 300], rng);
    const b = randomTensor([3, 300, 40], rng);
    await check(gpu, gpu.matmul(gpu.upload(a), gpu.upload(b)), cpu.matmul(a, b), 'batched, columns');
    const bt = randomTensor([1, 40, 300], rng);
    const opts = { transposeB: true };
    await check(
      gpu,
      gpu.matmul(gpu.upload(a), gpu.upload(bt), opts),
      cpu.matmul(a, bt, opts),
      'batched, rows',
    );
    const x = randomTensor([1, 288], rng);
    const w = randomTensor([768, 288], rng);
    const bias = randomTensor([768], rng);
    const got = gpu.linear(gpu.upload(x), gpu.upload(w), gpu.upload(bias));
    await check(gpu, got, cpu.linear(x, w, bias), 'linear N=1');
  });

  const tilings: [string, GemmTiling][] = [
    ['64×32 (compatibility)', GEMM_TILING_SMALL],
    ['128×128, 8×8 per invocation', GEMM_TILING_128],
  ];
  for (const [name, gemmTiling] of tilings) {
    it(`register tiling ${name}: partial tiles in every direction, transposes, batch`, async () => {
      const other = await WebGpuBackend.create({ adapter: TEST_ADAPTER, gemmTiling });
      try {
        for (const [transposeA, transposeB] of [
          [false, false],
          [true, true],
          [false, true],
        ]) {
          const [M, K, N] = [133, 75, 141];
          const a = randomTensor(transposeA ? [2, K, M] : [2, M, K], rng);
          const b = randomTensor(transposeB ? [2, N, K] : [2, K, N], rng);
          const opts = { transposeA, transposeB };
          const got = other.matmul(other.upload(a), other.upload(b), opts);
          expect(
            closeness(await other.download(got), cpu.matmul(a, b, opts), tol),
            JSON.stringify(opts),
          ).toBeNull();
        }
      } finally {
        await other.close();
      }
    });
  }

  it('rejects a tiling the device cannot run, naming its limits', async () => {
    const tooBig = { BM: 128, BN: 128, BK: 16, TM: 2, TN: 2 };
    await expect(WebGpuBackend.create({ adapter: TEST_ADAPTER, gemmTiling: tooBig })).rejects.toThrow(
      /4096 invocations of at most 1024/,
    );
  });

  it('BLAST at decode (N = 1, 4) and prefill (N = 40) sizes, b = 2, 4, 16, both directions', async () => {
    for (const [b, p, q, r] of [
      [2, 40, 24, 12],
      [4, 72, 72, 36],
      [16, 18, 18, 9],
    ]) {
      const B = randomTensor([b, p, r], rng);
      const C = randomTensor([b, r, q], rng);
      const D = randomTensor([b, b, r], rng);
      const [gB, gC, gD] = [B, C, D].map((t) => gpu.upload(t));
      for (const N of [1, 4, 40]) {
        for (const transpose of [false, true]) {
          const x = randomTensor([N, transpose ? b * p : b * q], rng);
          const got = gpu.blastForward(gpu.upload(x), gB, gC, gD, { transpose });
          await check(
            gpu,
            got,
            cpu.blastForward(x, B, C, D, { transpose }),
            `b=${b} N=${N} transpose=${transpose}`,
          );
        }
      }
    }
  });

  it('BLAST decode: small layers in one fused dispatch, larger ones in three passes, both exact', async () => {
    for (const [b, p, q, r, dispatches] of [
      [4, 72, 72, 36, 1], // 288×288 stories15M-like: factors fit one workgroup
      [16, 64, 64, 256, 3], // 1024×1024: 524k factor floats, the three-pass path
    ]) {
      const B = randomTensor([b, p, r], rng);
      const C = randomTensor([b, r, q], rng);
      const D = randomTensor([b, b, r], rng);
      const [gB, gC, gD] = [B, C, D].map((t) => gpu.upload(t));
      for (const N of [1, 3, 8]) {
        const x = randomTensor([N, b * q], rng);
        const gx = gpu.upload(x);
        await gpu.finish();
        const before = gpu.counters.dispatches;
        const y = gpu.blastForward(gx, gB, gC, gD);
        await gpu.finish();
        expect(gpu.counters.dispatches - before, `${b * p}² N=${N}`).toBe(dispatches);
        await check(gpu, y, cpu.blastForward(x, B, C, D), `${b * p}² N=${N}`);
      }
    }
  });

  it('low-rank and Monarch at decode size', async () => {
    const x = randomTensor([1, 96], rng);
    const U = randomTensor([80, 12], rng);
    const V = randomTensor([96, 12], rng);
    await check(
      gpu,
      gpu.lowRankForward(gpu.upload(x), gpu.upload(U), gpu.upload(V)),
      cpu.lowRankForward(x, U, V),
      'low-rank',
    );
    const L = randomTensor([4, 24, 24], rng);
    const R = randomTensor([4, 24, 24], rng);
    await check(
      gpu,
      gpu.monarchForward(gpu.upload(x), gpu.upload(L), gpu.upload(R)),
      cpu.monarchForward(x, L, R),
      'monarch',
    );
  });

  it('a linear weight and an embedding table past the binding cap are read in parts', async () => {
    // the software adapter binds at most 128 MiB: a [33000, 1024] table (135 MB) needs two row blocks
    const cap = gpu.maxBindingBytes;
    const d = 1024;
    const V = Math.floor(cap / (d * 4)) + 1000;
    const table = new Tensor([V, d]);
    const fill = new Rng(5);
    fill.fillNormal(table.data, 1);
    const gTable = gpu.upload(table);
    const x = randomTensor([2, d], rng);
    const bias = randomTensor([V], rng);
    const got = await gpu.download(gpu.linear(gpu.upload(x), gTable, gpu.upload(bias)));
    expect(closeness(got, cpu.linear(x, table, bias), tol)).toBeNull();
    const ids = Int32Array.from([0, V - 1, 31999, 32900]);
    const rows = await gpu.download(gpu.embedding(gTable, ids));
    expect(closeness(rows, cpu.embedding(table, ids), { relative: 0, absolute: 0 })).toBeNull();
    gpu.dispose(gTable);
  }, 120_000);

  it('records the dispatches of one JavaScript task into one submit', async () => {
    const host = randomTensor([4, 64], rng);
    const x = gpu.upload(host);
    await gpu.finish();
    const before = gpu.counters;
    let y = x;
    let want = host;
    for (let i = 0; i < 10; i++) {
      y = gpu.unary(y, 'tanh');
      want = cpu.unary(want, 'tanh');
    }
    await gpu.finish();
    const after = gpu.counters;
    expect(after.dispatches - before.dispatches).toBe(10);
    expect(after.submits - before.submits).toBe(1);
    await check(gpu, y, want, 'tanh ×10');
  });

  it('reuses released buffers of the same size, whose old contents never show', async () => {
    gpu.trimPool();
    await gpu.finish();
    expect(gpu.pooledBytes).toBe(0);
    const a = randomTensor([16, 16], rng);
    const x = gpu.upload(a);
    const y = gpu.unary(x, 'tanh');
    gpu.dispose(x);
    gpu.dispose(y);
    await gpu.finish();
    expect(gpu.pooledBytes).toBe(2 * 16 * 16 * 4);
    // the next tensors of that size take the pooled buffers; each kernel writes every element of its output
    const b = randomTensor([8, 32], rng);
    const z = gpu.scale(gpu.upload(b), 2, 1);
    await gpu.finish();
    expect(gpu.pooledBytes).toBe(0);
    await check(gpu, z, cpu.scale(b, 2, 1), 'scale into a reused buffer');
    gpu.trimPool();
  });
});
