import {
  BlastMatrix,
  blastFromLowRank,
  blastFromMonarch,
  LowRankMatrix,
  MonarchMatrix,
  Rng,
  Tensor,
} from '@blastkit/core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createStructuredLinear,
  createTfStructuredLinear,
  rankForParameters,
  type StructuredKind,
  structuredLinearFromMatrix,
  TfStructuredLinear,
} from '../src/layers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function randn(shape: number[], rng: Rng, std = 1): Tensor {
  const t = new Tensor(shape);
  rng.fillNormal(t.data, std);
  return t;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

function maxAbs(a: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]));
  return d;
}

/**
 * The implied dense matrix in float64, straight from the definitions of method.md §1 (independent of the
 * tf forward and of core's kernels): used for the finite-difference gradient check.
 */
function denseF64(
  kind: StructuredKind,
  f: Record<string, Float64Array>,
  m: number,
  n: number,
  b: number,
  r: number,
) {
  const A = new Float64Array(m * n);
  const p = m / b;
  const q = n / b;
  for (let row = 0; row < m; row++) {
    for (let col = 0; col < n; col++) {
      let s = 0;
      const i = Math.floor(row / p);
      const j = Math.floor(col / q);
      const pr = row % p;
      const qc = col % q;
      if (kind === 'dense') s = f.weight[row * n + col];
      else if (kind === 'lowrank') for (let k = 0; k < r; k++) s += f.U[row * r + k] * f.V[col * r + k];
      else if (kind === 'blast')
        for (let k = 0; k < r; k++)
          s += f.B[(i * p + pr) * r + k] * f.D[(i * b + j) * r + k] * f.C[(j * r + k) * q + qc];
      else
        for (let k = 0; k < r; k++)
          s += f.L[(i * p + pr) * (b * r) + j * r + k] * f.R[(j * b * r + i * r + k) * q + qc];
      A[row * n + col] = s;
    }
  }
  return A;
}

/** loss = Σ (x·Aᵀ + bias) ⊙ G in float64. */
function lossF64(
  kind: StructuredKind,
  f: Record<string, Float64Array>,
  x: Float64Array,
  G: Float64Array,
  N: number,
  m: number,
  n: number,
  b: number,
  r: number,
) {
  const A = denseF64(kind, f, m, n, b, r);
  let loss = 0;
  for (let t = 0; t < N; t++) {
    for (let row = 0; row < m; row++) {
      let y = f.bias ? f.bias[row] : 0;
      for (let col = 0; col < n; col++) y += A[row * n + col] * x[t * n + col];
      loss += y * G[t * m + row];
    }
  }
  return loss;
}

describe('structured layers: forward against @blastkit/core', () => {
  const rng = new Rng(11);
  const N = 7;

  it('blast layer from factors equals BlastMatrix.apply and toDense', () => {
    const M = BlastMatrix.random(24, 36, 3, 5, rng);
    const layer = structuredLinearFromMatrix(M);
    const x = randn([N, 36], rng);
    const y = layer.apply(tf.tensor2d(x.data, [N, 36]));
    const ref = M.apply(x);
    expect(y.shape).toEqual([N, 24]);
    expect(maxAbsDiff(y.dataSync(), ref.data)).toBeLessThan(1e-4 * maxAbs(ref.data));
    const back = layer.toStructuredMatrix();
    expect(maxAbsDiff(back.toDense().data, M.toDense().data)).toBe(0);
    layer.dispose();
  });

  it('low-rank layer equals LowRankMatrix.apply', () => {
    const M = new LowRankMatrix(randn([20, 4], rng), randn([12, 4], rng));
    const layer = structuredLinearFromMatrix(M);
    const x = randn([N, 12], rng);
    const ref = M.apply(x);
    expect(maxAbsDiff(layer.apply(tf.tensor2d(x.data, [N, 12])).dataSync(), ref.data)).toBeLessThan(
      1e-4 * maxAbs(ref.data),
    );
    // The same map as a BLAST layer with all s = 1.
    const asBlast = structuredLinearFromMatrix(blastFromLowRank(M, 4));
    expect(maxAbsDiff(asBlast.apply(tf.tensor2d(x.data, [N, 12])).dataSync(), ref.data)).toBeLessThan(
      1e-4 * maxAbs(ref.data),
    );
    layer.dispose();
    asBlast.dispose();
  });

  it('monarch layer equals MonarchMatrix.apply and its BLAST embedding', () => {
    const b = 3;
    const rp = 2;
    const M = new MonarchMatrix(randn([b, 6, b * rp], rng), randn([b, b * rp, 5], rng));
    const layer = structuredLinearFromMatrix(M);
    const x = randn([N, 15], rng);
    const ref = M.apply(x);
    const y = layer.apply(tf.tensor2d(x.data, [N, 15])).dataSync();
    expect(maxAbsDiff(y, ref.data)).toBeLessThan(1e-4 * maxAbs(ref.data));
    expect(maxAbsDiff(y, denseApply(M.toDense(), x))).toBeLessThan(1e-4 * maxAbs(ref.data));
    const asBlast = structuredLinearFromMatrix(blastFromMonarch(M));
    expect(maxAbsDiff(asBlast.apply(tf.tensor2d(x.data, [N, 15])).dataSync(), ref.data)).toBeLessThan(
      1e-4 * maxAbs(ref.data),
    );
    layer.dispose();
    asBlast.dispose();
  });

  it('dense layer with bias is x·Wᵀ + bias', () => {
    const W = randn([5, 8], rng);
    const bias = Float32Array.from([1, -2, 3, 0.5, 0]);
    const layer = createTfStructuredLinear({
      kind: 'dense',
      inFeatures: 8,
      outFeatures: 5,
      seed: 1,
      bias: true,
    });
    layer.factors.weight.assign(tf.tensor2d(W.data, [5, 8]));
    layer.bias!.assign(tf.tensor1d(bias));
    const x = randn([N, 8], rng);
    const ref = denseApply(W, x);
    for (let t = 0; t < N; t++) for (let o = 0; o < 5; o++) ref[t * 5 + o] += bias[o];
    expect(maxAbsDiff(layer.apply(tf.tensor2d(x.data, [N, 8])).dataSync(), ref)).toBeLessThan(1e-4);
    layer.dispose();
  });
});

function denseApply(W: Tensor, x: Tensor): Float64Array {
  const [m, n] = W.shape;
  const N = x.shape[0];
  const out = new Float64Array(N * m);
  for (let t = 0; t < N; t++)
    for (let o = 0; o < m; o++) {
      let s = 0;
      for (let c = 0; c < n; c++) s += W.data[o * n + c] * x.data[t * n + c];
      out[t * m + o] = s;
    }
  return out;
}

// Every engine's path: the cpu engine runs matMul with explicit transposes, wasm also splits batched products.
describe.each(['cpu', 'wasm'])(
  'structured layers on the %s engine: gradients against float64 finite differences',
  (engine) => {
    beforeAll(async () => {
      await tf.setBackend(engine);
    });
    afterAll(async () => {
      await tf.setBackend('cpu');
    });
    const cases: { kind: StructuredKind; rank?: number; blocks?: number }[] = [
      { kind: 'dense' },
      { kind: 'lowrank', rank: 3 },
      { kind: 'blast', rank: 3, blocks: 2 },
      { kind: 'monarch', rank: 2, blocks: 2 },
    ];
    for (const c of cases) {
      it(`${c.kind}: tf autograd gradients of every factor and the bias`, () => {
        const m = 6;
        const n = 4;
        const N = 5;
        const layer = createTfStructuredLinear({ ...c, inFeatures: n, outFeatures: m, bias: true, seed: 3 });
        const rng = new Rng(5);
        // A non-zero bias, so its gradient is not checked only at the init point.
        layer.bias!.assign(tf.tensor1d(rng.fillNormal(new Float32Array(m)) as Float32Array));
        const x = rng.fillNormal(new Float32Array(N * n)) as Float32Array;
        const G = rng.fillNormal(new Float32Array(N * m)) as Float32Array;
        const xt = tf.tensor2d(x, [N, n]);
        const Gt = tf.tensor2d(G, [N, m]);
        const { grads } = tf.variableGrads(
          () => tf.sum(tf.mul(layer.apply(xt), Gt)) as tf.Scalar,
          layer.variables,
        );
        const names = [...Object.keys(layer.factors), 'bias'];
        const f64: Record<string, Float64Array> = {};
        for (const k of names) {
          const v = k === 'bias' ? layer.bias! : layer.factors[k];
          f64[k] = Float64Array.from(v.dataSync());
        }
        const b = layer.blocks;
        const r = layer.rank;
        const x64 = Float64Array.from(x);
        const G64 = Float64Array.from(G);
        const h = 1e-6;
        for (const k of names) {
          const v = k === 'bias' ? layer.bias! : layer.factors[k];
          const g = grads[v.name].dataSync();
          const arr = f64[k];
          const fd = new Float64Array(arr.length);
          for (let e = 0; e < arr.length; e++) {
            const keep = arr[e];
            arr[e] = keep + h;
            const up = lossF64(layer.kind, f64, x64, G64, N, m, n, b, r);
            arr[e] = keep - h;
            const down = lossF64(layer.kind, f64, x64, G64, N, m, n, b, r);
            arr[e] = keep;
            fd[e] = (up - down) / (2 * h);
          }
          expect(maxAbs(fd)).toBeGreaterThan(1e-3); // the check is not vacuous
          expect(maxAbsDiff(g, fd)).toBeLessThan(2e-4 * Math.max(1, maxAbs(fd)));
        }
        layer.dispose();
      });
    }
  },
);

describe('createStructuredLinear', () => {
  it('is deterministic in its seed, with the documented shapes and counts', () => {
    const a = createTfStructuredLinear({
      kind: 'blast',
      inFeatures: 32,
      outFeatures: 48,
      rank: 4,
      blocks: 4,
      seed: 9,
    });
    const b = createTfStructuredLinear({
      kind: 'blast',
      inFeatures: 32,
      outFeatures: 48,
      rank: 4,
      blocks: 4,
      seed: 9,
    });
    const c = createTfStructuredLinear({
      kind: 'blast',
      inFeatures: 32,
      outFeatures: 48,
      rank: 4,
      blocks: 4,
      seed: 10,
    });
    expect(a.factors.B.shape).toEqual([4, 12, 4]);
    expect(a.factors.C.shape).toEqual([4, 4, 8]);
    expect(a.factors.D.shape).toEqual([4, 4, 4]);
    expect(Array.from(a.factors.B.dataSync())).toEqual(Array.from(b.factors.B.dataSync()));
    expect(Array.from(a.factors.B.dataSync())).not.toEqual(Array.from(c.factors.B.dataSync()));
    expect(a.parameterCount()).toBe(4 * (48 + 32 + 16));
    expect(a.flopsPerRow()).toBe(2 * 4 * (48 + 32 + 16));
    for (const l of [a, b, c]) l.dispose();
  });

  it('initialises every kind so the implied matrix has entry variance ≈ 1/in (LeCun)', () => {
    const n = 256;
    const m = 192;
    const specs = [
      { kind: 'dense' as const },
      { kind: 'lowrank' as const, rank: 32 },
      { kind: 'blast' as const, rank: 32, blocks: 8 },
      { kind: 'monarch' as const, rank: 4, blocks: 8 },
    ];
    for (const s of specs) {
      const layer = createTfStructuredLinear({ ...s, inFeatures: n, outFeatures: m, seed: 2 });
      const A = layer.toStructuredMatrix().toDense().data;
      let ss = 0;
      for (const v of A) ss += v * v;
      const variance = ss / A.length;
      expect(variance * n, s.kind).toBeGreaterThan(0.7);
      expect(variance * n, s.kind).toBeLessThan(1.4);
      layer.dispose();
    }
  });

  it('rejects bad specs and inputs with clear errors', () => {
    expect(() =>
      createStructuredLinear({ kind: 'blast', inFeatures: 10, outFeatures: 12, rank: 2, blocks: 4, seed: 0 }),
    ).toThrow(/4 blocks must divide both sizes/);
    expect(() =>
      createStructuredLinear({ kind: 'lowrank', inFeatures: 10, outFeatures: 12, seed: 0 }),
    ).toThrow(/rank/);
    expect(() =>
      createStructuredLinear({ kind: 'nope' as StructuredKind, inFeatures: 1, outFeatures: 1, seed: 0 }),
    ).toThrow(/unknown kind/);
    const l = createStructuredLinear({ kind: 'lowrank', inFeatures: 10, outFeatures: 12, rank: 2, seed: 0 });
    expect(() => l.apply(tf.zeros([3, 11]) as tf.Tensor2D)).toThrow(/expected \[N,10\]/);
    expect(l).toBeInstanceOf(TfStructuredLinear);
    l.dispose();
  });

  it('rankForParameters gives the largest rank that fits', () => {
    expect(rankForParameters('lowrank', 288, 768, 288 * 768 * 0.5)).toBe(
      Math.floor((288 * 768 * 0.5) / (288 + 768)),
    );
    const rb = rankForParameters('blast', 288, 768, 100_000, 16);
    expect(rb * (288 + 768 + 256)).toBeLessThanOrEqual(100_000);
    expect((rb + 1) * (288 + 768 + 256)).toBeGreaterThan(100_000);
    const rm = rankForParameters('monarch', 288, 768, 100_000, 4);
    expect(4 * rm * (288 + 768)).toBeLessThanOrEqual(100_000);
    expect(4 * (rm + 1) * (288 + 768)).toBeGreaterThan(100_000);
    expect(rankForParameters('dense', 288, 768, 288 * 768)).toBe(288);
    expect(() => rankForParameters('blast', 288, 768, 100, 16)).toThrow(/fewer than one rank/);
    expect(() => rankForParameters('blast', 288, 768, 1e5)).toThrow(/blocks/);
  });
});
