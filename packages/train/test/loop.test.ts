import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '@blastkit/core';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTfStructuredLinear, type TfStructuredLinear } from '../src/layers.js';
import { CheckpointError, readCheckpointInfo } from '../src/train/checkpoint.js';
import { type StepEvent, TrainingInterruptedError, trainLoop } from '../src/train/loop.js';

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'train-loop-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A BLAST layer learning a fixed random dense map from seeded batches: a small, real regression problem. */
function problem() {
  const layer = createTfStructuredLinear({
    kind: 'blast',
    inFeatures: 16,
    outFeatures: 12,
    rank: 4,
    blocks: 4,
    bias: true,
    seed: 7,
  });
  const rng = new Rng(99);
  const W = tf.tensor2d(rng.fillNormal(new Float32Array(12 * 16), 0.3) as Float32Array, [12, 16]);
  const params = new Map<string, tf.Variable>([
    ['B', layer.factors.B],
    ['C', layer.factors.C],
    ['D', layer.factors.D],
    ['bias', layer.bias!],
  ]);
  // the batch of (step, micro) comes from its own seed: independent of what ran before (resume-safe)
  const prepare = (step: number, micro: number) => {
    const r = new Rng(1000 * step + micro);
    const x = tf.tensor2d(r.fillNormal(new Float32Array(8 * 16)) as Float32Array, [8, 16]);
    const y = tf.matMul(x, W, false, true);
    return {
      loss: () => tf.mean(tf.square(tf.sub(layer.apply(x), y))) as tf.Scalar,
      dispose: () => {
        x.dispose();
        y.dispose();
      },
      size: 8,
    };
  };
  return {
    layer,
    params,
    prepare,
    dispose: () => {
      layer.dispose();
      W.dispose();
    },
  };
}

function snapshot(layer: TfStructuredLinear): number[] {
  return layer.variables.flatMap((v) => Array.from(v.dataSync()));
}

describe('trainLoop', () => {
  const common = { steps: 8, accumulate: 2, lr: 0.05, warmupSteps: 2, optimizer: { weightDecay: 0.01 } };

  it('lowers the loss, reports progress with an ETA, and checkpoints atomically', async () => {
    const p = problem();
    const events: StepEvent[] = [];
    const ck = join(dir, 'plain.safetensors');
    const r = await trainLoop({
      ...common,
      params: p.params,
      prepare: p.prepare,
      checkpoint: ck,
      onStep: (e) => events.push(e),
    });
    expect(r.losses).toHaveLength(8);
    expect(r.losses[7]).toBeLessThan(0.7 * r.losses[0]);
    expect(events.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(events[3].eta).toBeGreaterThan(0);
    expect(events[7].eta).toBe(0);
    expect(events[0].lr).toBeCloseTo(0.025, 10); // warmup: step 0 of 2
    const info = await readCheckpointInfo(ck);
    expect(info.step).toBe(8);
    expect(info.losses).toEqual(r.losses);
    p.dispose();
  });

  it('trains when a parameter does not reach the loss (its gradient is zero, not a crash)', async () => {
    const p = problem();
    const unused = tf.variable(tf.tensor1d([1, 2, 3]));
    const params = new Map([...p.params, ['unused', unused]]);
    const r = await trainLoop({ ...common, optimizer: { weightDecay: 0 }, params, prepare: p.prepare });
    expect(r.losses[7]).toBeLessThan(0.7 * r.losses[0]);
    expect(Array.from(unused.dataSync())).toEqual([1, 2, 3]);
    unused.dispose();
    p.dispose();
  });

  it('an interrupted run resumed from its checkpoint ends exactly where an uninterrupted one does', async () => {
    const straight = problem();
    const ref = await trainLoop({ ...common, params: straight.params, prepare: straight.prepare });
    const want = snapshot(straight.layer);
    straight.dispose();

    const ck = join(dir, 'resume.safetensors');
    const first = problem();
    const controller = new AbortController();
    await expect(
      trainLoop({
        ...common,
        params: first.params,
        prepare: first.prepare,
        checkpoint: ck,
        checkpointEvery: 100,
        signal: controller.signal,
        onStep: (e) => {
          if (e.step === 3) controller.abort();
        },
      }),
    ).rejects.toBeInstanceOf(TrainingInterruptedError);
    first.dispose();
    expect((await readCheckpointInfo(ck)).step).toBe(3);

    // a fresh process: new variables at their init, state from the file only
    const second = problem();
    const resumed = await trainLoop({
      ...common,
      params: second.params,
      prepare: second.prepare,
      checkpoint: ck,
      resume: true,
    });
    expect(resumed.resumedFrom).toBe(3);
    expect(resumed.losses).toEqual(ref.losses);
    expect(snapshot(second.layer)).toEqual(want);
    second.dispose();
  });

  it('refuses a checkpoint from other settings, naming the difference', async () => {
    const ck = join(dir, 'other.safetensors');
    const a = problem();
    await trainLoop({ ...common, steps: 2, params: a.params, prepare: a.prepare, checkpoint: ck });
    a.dispose();
    const b = problem();
    const otherLr = () =>
      trainLoop({
        ...common,
        steps: 2,
        lr: 0.1,
        params: b.params,
        prepare: b.prepare,
        checkpoint: ck,
        resume: true,
      });
    await expect(otherLr()).rejects.toThrow(CheckpointError);
    await expect(otherLr()).rejects.toThrow(/lr: checkpoint 0.05, now 0.1/);
    b.dispose();
  });

  it('rejects bad settings', async () => {
    const p = problem();
    await expect(trainLoop({ ...common, steps: 0, params: p.params, prepare: p.prepare })).rejects.toThrow(
      /steps/,
    );
    await expect(
      trainLoop({ ...common, accumulate: 1.5, params: p.params, prepare: p.prepare }),
    ).rejects.toThrow(/accumulate/);
    p.dispose();
  });
});
