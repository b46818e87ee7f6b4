import { Rng } from '@blastkit/core';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type DistillLossParts, distillationLoss } from '../src/distill/loss.js';
import { ensureGradients } from '../src/engine/gradients.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  ensureGradients();
});

const N = 5;
const D = 6;
const V = 40;

/** The objective in float64 straight from its definition (log-softmax, KL, CE): the reference. */
function lossF64(
  h: Float64Array,
  W: Float64Array,
  t: Float32Array,
  targets: Int32Array,
  T: number,
  kw: number,
  cw: number,
) {
  let kl = 0;
  let ce = 0;
  let count = 0;
  for (let i = 0; i < N; i++) {
    const s = new Float64Array(V);
    for (let v = 0; v < V; v++) for (let k = 0; k < D; k++) s[v] += h[i * D + k] * W[v * D + k];
    const lse = (x: ArrayLike<number>, scale: number) => {
      let m = Number.NEGATIVE_INFINITY;
      for (let v = 0; v < V; v++) m = Math.max(m, x[v] / scale);
      let z = 0;
      for (let v = 0; v < V; v++) z += Math.exp(x[v] / scale - m);
      return m + Math.log(z);
    };
    const tRow = t.subarray(i * V, (i + 1) * V);
    const lsT = lse(tRow, T);
    const lsS = lse(s, T);
    for (let v = 0; v < V; v++) {
      const lpT = tRow[v] / T - lsT;
      kl += Math.exp(lpT) * (lpT - (s[v] / T - lsS));
    }
    if (targets[i] >= 0) {
      ce += lse(s, 1) - s[targets[i]];
      count++;
    }
  }
  return kw * T * T * (kl / N) + (cw > 0 ? (cw * ce) / count : 0);
}

describe('distillationLoss', () => {
  const rng = new Rng(21);
  const h = rng.fillNormal(new Float64Array(N * D)) as Float64Array;
  const W = rng.fillNormal(new Float64Array(V * D)) as Float64Array;
  const teacher = rng.fillNormal(new Float32Array(N * V), 2) as Float32Array;
  const targets = Int32Array.from([3, 17, -1, 39, 0]);
  const weight = tf.tensor2d(Float32Array.from(W), [V, D]);
  const head = { weight, transposed: tf.transpose(weight) as tf.Tensor2D };

  for (const [T, kw, cw, mode] of [
    [1, 1, 0, 'host'],
    [2, 1, 0, 'host'],
    [2, 1, 0.5, 'host'],
    [3, 0.7, 0.3, 'host'],
    [1, 1, 0, 'tf'],
    [2, 1, 0.5, 'tf'],
    [3, 0.7, 0.3, 'tf'],
  ] as const) {
    it(`${mode} mode, T=${T}, KL weight ${kw}, CE weight ${cw}: value and gradient match float64 finite differences`, () => {
      const hT = tf.tensor2d(Float32Array.from(h), [N, D]);
      let parts: DistillLossParts | undefined;
      const { value, grad } = tf.valueAndGrad((x: tf.Tensor) =>
        distillationLoss(
          x as tf.Tensor2D,
          head,
          teacher,
          targets,
          { temperature: T, klWeight: kw, ceWeight: cw, mode },
          (p) => {
            parts = p;
          },
        ),
      )(hT);
      const want = lossF64(h, W, teacher, targets, T, kw, cw);
      expect(value.dataSync()[0]).toBeCloseTo(want, 4);
      expect(parts?.tokens).toBe(N);
      expect(Number.isFinite(parts?.ce)).toBe(true);
      const g = grad.dataSync();
      const eps = 1e-6;
      let maxErr = 0;
      let maxG = 0;
      for (let e = 0; e < h.length; e++) {
        const keep = h[e];
        h[e] = keep + eps;
        const up = lossF64(h, W, teacher, targets, T, kw, cw);
        h[e] = keep - eps;
        const down = lossF64(h, W, teacher, targets, T, kw, cw);
        h[e] = keep;
        const fd = (up - down) / (2 * eps);
        maxErr = Math.max(maxErr, Math.abs(fd - g[e]));
        maxG = Math.max(maxG, Math.abs(fd));
      }
      expect(maxG).toBeGreaterThan(1e-2);
      expect(maxErr).toBeLessThan(1e-4 * Math.max(1, maxG));
    });
  }

  it('is zero with zero gradient when the student equals the teacher', () => {
    const hT = tf.tensor2d(Float32Array.from(h), [N, D]);
    const same = tf.matMul(hT, head.transposed).dataSync() as Float32Array;
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor) =>
      distillationLoss(x as tf.Tensor2D, head, same, null, { temperature: 2 }),
    )(hT);
    expect(Math.abs(value.dataSync()[0])).toBeLessThan(1e-6);
    for (const x of grad.dataSync()) expect(Math.abs(x)).toBeLessThan(1e-5);
  });

  it('rejects mismatched inputs', () => {
    const hT = tf.tensor2d(Float32Array.from(h), [N, D]);
    expect(() => distillationLoss(hT, head, new Float32Array(3), null)).toThrow(/teacher logits/);
    expect(() => distillationLoss(hT, head, teacher, null, { ceWeight: 1 })).toThrow(/targets/);
    expect(() => distillationLoss(hT, head, teacher, null, { temperature: 0 })).toThrow(/temperature/);
  });
});
