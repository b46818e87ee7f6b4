#!/usr/bin/env node
// Timings of the native backend (not a test): fp32 GEMM GFLOP/s at 1024³ and 2048³ on 1 and 2 threads, and a
// BLAST layer (4096², b = 16, r = 1024) against the dense layer at N = 1 and N = 256.
//
//   pnpm --filter @blastkit/backend-native bench            (after the package build)
//   node bench/gemm.mjs --threads 1,2,4 --quick

import { Rng, Tensor } from '@blastkit/core';
import { NativeBackend } from '../dist/index.js';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const threadCounts = arg('threads', '1,2').split(',').map(Number);
const quick = args.includes('--quick');

const probe = NativeBackend.probe();
if (!probe.available) {
  console.error(`native backend unavailable: ${probe.reason}`);
  process.exit(1);
}

const rng = new Rng(11);
const rand = (shape, std = 1) => {
  const t = new Tensor(shape);
  rng.fillNormal(t.data, std);
  return t;
};

/** Median seconds of `reps` runs of fn (after one warm-up); fn returns a handle to dispose. */
function time(be, fn, reps) {
  be.dispose(fn());
  const samples = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    const out = fn();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e9);
    be.dispose(out);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

console.log(`native ${probe.variant}, ${probe.addonPath}`);
console.log('\nGEMM fp32 (matmul, square):');
const gemm = {};
for (const threads of threadCounts) {
  const be = NativeBackend.createSync({ threads });
  for (const n of [1024, 2048]) {
    const a = be.upload(rand([n, n]));
    const b = be.upload(rand([n, n]));
    const s = time(be, () => be.matmul(a, b), quick ? 3 : n === 1024 ? 15 : 7);
    const gflops = (2 * n ** 3) / s / 1e9;
    gemm[`${n}/${threads}`] = gflops;
    console.log(`  ${n}³  ${threads} thread(s): ${(s * 1e3).toFixed(2)} ms  ${gflops.toFixed(1)} GFLOP/s`);
    be.dispose(a);
    be.dispose(b);
  }
  be.close();
}
for (const n of [1024, 2048]) {
  const base = gemm[`${n}/1`];
  for (const threads of threadCounts.filter((t) => t > 1)) {
    console.log(`  ${n}³ speed-up on ${threads} threads: ${(gemm[`${n}/${threads}`] / base).toFixed(2)}×`);
  }
}

console.log('\nBLAST 4096², b=16, r=1024 vs dense 4096² (linear):');
for (const threads of threadCounts) {
  const be = NativeBackend.createSync({ threads });
  const W = be.upload(rand([4096, 4096], 0.02));
  const B = be.upload(rand([16, 256, 1024], 0.05));
  const C = be.upload(rand([16, 1024, 256], 0.05));
  const D = be.upload(rand([16, 16, 1024]));
  for (const N of [1, 256]) {
    const x = be.upload(rand([N, 4096]));
    const reps = quick ? 5 : N === 1 ? 200 : 10;
    const dense = time(be, () => be.linear(x, W), reps);
    const blast = time(be, () => be.blastForward(x, B, C, D), reps);
    console.log(
      `  N=${String(N).padStart(3)}  ${threads} thread(s): dense ${(dense * 1e3).toFixed(3)} ms, BLAST ${(blast * 1e3).toFixed(3)} ms, BLAST/dense ${(blast / dense).toFixed(2)}`,
    );
    if (N === 1) {
      const three = time(be, () => be.blastForwardPath(x, B, C, D, {}, 'three-pass'), reps);
      console.log(`         (BLAST three-pass path at N=1: ${(three * 1e3).toFixed(3)} ms)`);
    }
    be.dispose(x);
  }
  be.close();
}
