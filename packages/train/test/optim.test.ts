import { Rng } from '@blastkit/core';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, cosineSchedule } from '../src/optim.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** PyTorch's AdamW (torch.optim.AdamW, amsgrad off) in float64, written from its documented algorithm. */
function adamwF64(
  p: Float64Array,
  grads: Float64Array[],
  lrs: number[],
  o: { b1: number; b2: number; eps: number; wd: number },
) {
  const m = new Float64Array(p.length);
  const v = new Float64Array(p.length);
  grads.forEach((g, k) => {
    const t = k + 1;
    const lr = lrs[k];
    for (let i = 0; i < p.length; i++) {
      p[i] -= lr * o.wd * p[i];
      m[i] = o.b1 * m[i] + (1 - o.b1) * g[i];
      v[i] = o.b2 * v[i] + (1 - o.b2) * g[i] * g[i];
      const mh = m[i] / (1 - o.b1 ** t);
      const vh = v[i] / (1 - o.b2 ** t);
      p[i] -= (lr * mh) / (Math.sqrt(vh) + o.eps);
    }
  });
  return p;
}

describe('AdamW', () => {
  it('matches a float64 transcription of torch.optim.AdamW over several steps', () => {
    const rng = new Rng(1);
    const p0 = rng.fillNormal(new Float64Array(50)) as Float64Array;
    const grads = Array.from({ length: 6 }, () => rng.fillNormal(new Float64Array(50)) as Float64Array);
    const lrs = [1e-2, 2e-2, 3e-2, 2e-2, 1e-2, 5e-3];
    const o = { b1: 0.8, b2: 0.95, eps: 1e-6, wd: 0.1 };
    const ref = adamwF64(Float64Array.from(p0), grads, lrs, o);
    const v = tf.variable(tf.tensor1d(Float32Array.from(p0)));
    const opt = new AdamW([v], { beta1: o.b1, beta2: o.b2, epsilon: o.eps, weightDecay: o.wd });
    grads.forEach((g, k) => {
      opt.step([tf.tensor1d(Float32Array.from(g))], lrs[k]);
    });
    const got = v.dataSync();
    let maxDiff = 0;
    let moved = 0;
    for (let i = 0; i < 50; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(got[i] - ref[i]));
      moved = Math.max(moved, Math.abs(ref[i] - p0[i]));
    }
    expect(moved).toBeGreaterThan(0.05);
    expect(maxDiff).toBeLessThan(1e-5);
    expect(opt.stepCount).toBe(6);
    opt.dispose();
    v.dispose();
  });

  it('skips weight decay where the decay mask says so', () => {
    const a = tf.variable(tf.tensor1d([1, 2]));
    const b = tf.variable(tf.tensor1d([1, 2]));
    const opt = new AdamW([a, b], { weightDecay: 0.5, decay: [true, false] });
    opt.step([tf.zeros([2]), tf.zeros([2])], 0.1);
    expect(Array.from(a.dataSync())).toEqual([0.949999988079071, 1.899999976158142]);
    expect(Array.from(b.dataSync())).toEqual([1, 2]);
    expect(() => new AdamW([a], { decay: [true, false] })).toThrow(/decay has 2 entries/);
  });

  it('state() and loadState() continue a run exactly', () => {
    const rng = new Rng(4);
    const p0 = rng.fillNormal(new Float32Array(20)) as Float32Array;
    const grads = Array.from({ length: 4 }, () =>
      tf.tensor1d(rng.fillNormal(new Float32Array(20)) as Float32Array),
    );
    const straight = tf.variable(tf.tensor1d(p0));
    const o1 = new AdamW([straight]);
    for (const g of grads) o1.step([g], 0.01);

    const first = tf.variable(tf.tensor1d(p0));
    const o2 = new AdamW([first]);
    o2.step([grads[0]], 0.01);
    o2.step([grads[1]], 0.01);
    const saved = o2.state();
    const params = first.dataSync().slice();
    const resumed = tf.variable(tf.tensor1d(params));
    const o3 = new AdamW([resumed]);
    o3.loadState(saved);
    expect(o3.stepCount).toBe(2);
    o3.step([grads[2]], 0.01);
    o3.step([grads[3]], 0.01);
    expect(Array.from(resumed.dataSync())).toEqual(Array.from(straight.dataSync()));
    expect(() => o3.loadState({ step: 1, tensors: {} })).toThrow(/missing tensor 'adamw.m.0'/);
    expect(() => o1.step([tf.zeros([3])], 0.1)).toThrow(/shape/);
  });

  it('a gradient of the wrong shape changes nothing: no variable, moment or step count moves', () => {
    const a = tf.variable(tf.tensor1d([1, 2]));
    const b = tf.variable(tf.tensor1d([3, 4, 5]));
    const o = new AdamW([a, b]);
    o.step([tf.ones([2]), tf.ones([3])], 0.1);
    const before = [a, b].map((v) => Array.from(v.dataSync()));
    const moments = Object.values(o.state().tensors).map((t) => Array.from(t.dataSync()));
    expect(() => o.step([tf.ones([2]), tf.ones([2])], 0.1)).toThrow(/gradient 1 has shape \[2\]/);
    expect([a, b].map((v) => Array.from(v.dataSync()))).toEqual(before);
    expect(Object.values(o.state().tensors).map((t) => Array.from(t.dataSync()))).toEqual(moments);
    expect(o.stepCount).toBe(1);
  });
});

describe('cosineSchedule', () => {
  const o = { peak: 1e-3, warmupSteps: 10, totalSteps: 110, floor: 1e-4 };
  it('warms up linearly, peaks, and decays by half a cosine to the floor', () => {
    expect(cosineSchedule(0, o)).toBeCloseTo(1e-4, 12);
    expect(cosineSchedule(4, o)).toBeCloseTo(5e-4, 12);
    expect(cosineSchedule(9, o)).toBeCloseTo(1e-3, 12);
    expect(cosineSchedule(10, o)).toBeCloseTo(1e-3, 12);
    expect(cosineSchedule(60, o)).toBeCloseTo(1e-4 + 0.9e-3 * 0.5, 12);
    expect(cosineSchedule(110, o)).toBeCloseTo(1e-4, 12);
    expect(cosineSchedule(500, o)).toBeCloseTo(1e-4, 12);
    for (let s = 10; s < 110; s++) expect(cosineSchedule(s + 1, o)).toBeLessThanOrEqual(cosineSchedule(s, o));
    expect(cosineSchedule(50, { peak: 1, warmupSteps: 0, totalSteps: 100 })).toBeCloseTo(0.5, 12);
    expect(() => cosineSchedule(-1, o)).toThrow(/step/);
    expect(() => cosineSchedule(0, { ...o, totalSteps: 0 })).toThrow(/totalSteps/);
  });
});
