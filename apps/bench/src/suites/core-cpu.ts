import { BlastMatrix, DenseMatrix, LowRankMatrix, operand, Rng, sgemm, Tensor } from '@blastkit/core';
import { round, time } from '../timing.js';

export interface CoreCpuOptions {
  /** Smaller shapes and fewer repeats, for the test that keeps this suite runnable. */
  quick?: boolean;
}

const randomTensor = (shape: number[], rng: Rng) => {
  const t = new Tensor(shape);
  rng.fillNormal(t.data);
  return t;
};

/**
 * The foundation benchmark: CPU GEMM throughput, and the BLAST layer against the dense layer it replaces at
 * about half the parameters (plus low-rank at the same parameter count), timed side by side in one run.
 */
export function runCoreCpu(options: CoreCpuOptions = {}) {
  const quick = options.quick ?? false;
  const rng = new Rng(0);
  const minSeconds = quick ? 0.01 : 0.5;

  const gemm = (quick ? [64, 128] : [512, 1024, 2048]).map((n) => {
    const a = randomTensor([n, n], rng).data;
    const b = randomTensor([n, n], rng).data;
    const c = new Float32Array(n * n);
    const t = time(() => sgemm(n, n, n, 1, operand(a, 0, n), operand(b, 0, n), 0, c, 0, n), {
      minSeconds,
      minRepeats: n >= 2048 ? 2 : 3,
    });
    return {
      shape: `${n}x${n}x${n}`,
      seconds: round(t.median),
      gflops: round((2 * n ** 3) / t.median / 1e9),
    };
  });

  const layers = quick
    ? [{ name: 'tiny', m: 64, n: 32, b: 4, r: 8 }]
    : [
        { name: 'llama-7b attention 4096x4096', m: 4096, n: 4096, b: 16, r: 1024 },
        { name: 'stories15M w1 768x288', m: 768, n: 288, b: 4, r: 96 },
        { name: 'stories15M wq 288x288', m: 288, n: 288, b: 4, r: 64 },
      ];
  const structured = layers.flatMap(({ name, m, n, b, r }) => {
    const blast = BlastMatrix.random(m, n, b, r, rng);
    const dense = new DenseMatrix(blast.toDense());
    const lowRankRank = Math.floor(blast.parameterCount / (m + n));
    const lowRank = new LowRankMatrix(
      randomTensor([m, lowRankRank], rng),
      randomTensor([n, lowRankRank], rng),
    );
    return [1, 256].map((N) => {
      const x = randomTensor([N, n], rng);
      const opts = { minSeconds, minRepeats: 3 };
      const tDense = time(() => dense.apply(x), opts);
      const tBlast = time(() => blast.apply(x), opts);
      const tLowRank = time(() => lowRank.apply(x), opts);
      return {
        layer: name,
        shape: [m, n],
        blocks: b,
        rank: r,
        tokens: N,
        parameterRatio: round(blast.parameterCount / dense.parameterCount),
        flopRatio: round(blast.flops(N) / dense.flops(N)),
        lowRankRank,
        seconds: {
          dense: round(tDense.median),
          blast: round(tBlast.median),
          lowRank: round(tLowRank.median),
        },
        // the foundation issue's targets: ≤ 0.6 at N = 1 and ≤ 0.75 at N = 256
        blastOverDense: round(tBlast.median / tDense.median),
        lowRankOverDense: round(tLowRank.median / tDense.median),
      };
    });
  });

  return { suite: 'core-cpu', backend: 'cpu', node: process.version, gemm, structured };
}
