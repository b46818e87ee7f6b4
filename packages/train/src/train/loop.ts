import { existsSync } from 'node:fs';
import { InvalidArgumentError } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, type AdamWOptions, cosineSchedule } from '../optim.js';
import { type CheckpointInfo, loadCheckpoint, saveCheckpoint } from './checkpoint.js';

/** One micro-batch, prepared outside the gradient tape (teacher outputs, inputs), then its loss. */
export interface MicroBatch {
  /** The loss to differentiate; called inside tf.variableGrads. */
  loss(): tf.Scalar;
  /** Frees what `prepare` made (teacher logits…). */
  dispose?(): void;
  /** Tokens (or examples) in it, for throughput. */
  size?: number;
}

/** What the loop reports after each optimizer step. */
export interface StepEvent {
  /** Optimizer steps done (1-based). */
  step: number;
  steps: number;
  /** Mean micro-batch loss of this step. */
  loss: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Seconds since this process started training (a resumed run counts from its resume). */
  seconds: number;
  /** Estimated seconds left. */
  eta: number;
  /** Micro-batch sizes per second over this process's steps. */
  throughput: number;
  resumed: boolean;
}

export interface TrainLoopOptions {
  /** Trainable variables under stable names (what the checkpoint stores). */
  params: ReadonlyMap<string, tf.Variable>;
  /** Optimizer steps. */
  steps: number;
  /** Micro-batches per optimizer step (gradient accumulation); the step uses their mean gradient. */
  accumulate?: number;
  /** Peak learning rate, warmup steps (default 5% of steps), final floor (default 10% of peak). */
  lr: number;
  warmupSteps?: number;
  lrFloor?: number;
  optimizer?: AdamWOptions;
  /** Names excluded from weight decay (norm gains, biases). */
  noDecay?: (name: string) => boolean;
  /** Clip the global gradient norm to this (default 1; 0 = off). */
  clipNorm?: number;
  /**
   * Micro-batch `micro` of optimizer step `step` (0-based). Must depend only on (step, micro) — that is
   * what makes a resumed run equal an uninterrupted one.
   */
  prepare: (step: number, micro: number) => MicroBatch | Promise<MicroBatch>;
  /** Checkpoint file (safetensors), written atomically every `checkpointEvery` steps, at the end and on abort. */
  checkpoint?: string;
  checkpointEvery?: number;
  /** Resume from `checkpoint` if it exists. */
  resume?: boolean;
  /** The run's settings; a checkpoint from other settings is refused. */
  fingerprint?: CheckpointInfo['fingerprint'];
  signal?: AbortSignal;
  onStep?: (event: StepEvent) => void;
}

export interface TrainLoopResult {
  steps: number;
  /** Mean loss of every step, including those done before a resume. */
  losses: number[];
  /** Step this process started from (0 unless resumed). */
  resumedFrom: number;
  seconds: number;
  /** Mean seconds per optimizer step in this process. */
  secondsPerStep: number;
}

/** Raised when the signal stops training; the checkpoint (if any) holds the last finished step. */
export class TrainingInterruptedError extends Error {
  override name = 'TrainingInterruptedError';
  constructor(
    readonly step: number,
    readonly checkpoint?: string,
  ) {
    super(
      `training interrupted after step ${step}${checkpoint ? ` (checkpoint ${checkpoint}; resume to continue)` : ''}`,
    );
  }
}

/**
 * AdamW training with a cosine schedule, gradient accumulation, global-norm clipping, atomic checkpoints and
 * exact resume. Deterministic for a deterministic `prepare` on a deterministic engine.
 */
export async function trainLoop(options: TrainLoopOptions): Promise<TrainLoopResult> {
  const steps = options.steps;
  const accumulate = options.accumulate ?? 1;
  if (!Number.isInteger(steps) || steps <= 0)
    throw new InvalidArgumentError(`trainLoop: steps must be a positive integer, got ${steps}`);
  if (!Number.isInteger(accumulate) || accumulate <= 0)
    throw new InvalidArgumentError(`trainLoop: accumulate must be a positive integer, got ${accumulate}`);
  if (!(options.lr > 0)) throw new InvalidArgumentError(`trainLoop: lr must be > 0, got ${options.lr}`);
  const names = [...options.params.keys()];
  const vars = names.map((n) => options.params.get(n) as tf.Variable);
  if (vars.length === 0) throw new InvalidArgumentError('trainLoop: nothing to train');
  for (const [n, v] of options.params)
    if (!v.trainable) throw new InvalidArgumentError(`trainLoop: variable '${n}' is not trainable`);
  const noDecay = options.noDecay ?? (() => false);
  const optimizer = new AdamW(vars, { ...options.optimizer, decay: names.map((n) => !noDecay(n)) });
  const schedule = {
    peak: options.lr,
    warmupSteps: options.warmupSteps ?? Math.max(1, Math.round(0.05 * steps)),
    totalSteps: steps,
    floor: options.lrFloor ?? 0.1 * options.lr,
  };
  const clip = options.clipNorm ?? 1;
  const every = options.checkpointEvery ?? Math.max(1, Math.ceil(steps / 10));
  const fingerprint = {
    ...options.fingerprint,
    steps,
    accumulate,
    lr: options.lr,
    clip,
    ...paramShapes(options.params),
  };
  let losses: number[] = [];
  let start = 0;
  try {
    if (options.resume && options.checkpoint && existsSync(options.checkpoint)) {
      const info = await loadCheckpoint(options.checkpoint, options.params, optimizer, fingerprint);
      start = info.step;
      losses = info.losses.slice(0, start);
    }
    const save = async (step: number) => {
      if (options.checkpoint)
        await saveCheckpoint(options.checkpoint, options.params, optimizer, { step, fingerprint, losses });
    };
    const t0 = performance.now();
    let units = 0;
    for (let step = start; step < steps; step++) {
      if (options.signal?.aborted) {
        await save(step);
        throw new TrainingInterruptedError(step, options.checkpoint);
      }
      let accum: tf.Tensor[] | null = null;
      let lossSum = 0;
      for (let micro = 0; micro < accumulate; micro++) {
        const batch = await options.prepare(step, micro);
        try {
          const { value, grads } = tf.variableGrads(() => batch.loss(), vars);
          lossSum += value.dataSync()[0];
          value.dispose();
          // a variable the loss does not reach (a frozen branch, an unused bias) has no entry: zero gradient
          const list = vars.map((v) => grads[v.name] ?? tf.zerosLike(v));
          if (accum === null) accum = list;
          else {
            const prev: tf.Tensor[] = accum;
            accum = prev.map((a, i) => {
              const s = tf.add(a, list[i]);
              a.dispose();
              list[i].dispose();
              return s;
            });
          }
          units += batch.size ?? 1;
        } finally {
          batch.dispose?.();
        }
      }
      const grads = accum as tf.Tensor[];
      const lr = cosineSchedule(step, schedule);
      const gradNorm = tf.tidy(() => {
        const sq = grads.map((g) => tf.sum(tf.square(g)));
        return Math.sqrt(tf.addN(sq).dataSync()[0]) / accumulate;
      });
      if (!Number.isFinite(gradNorm) || !Number.isFinite(lossSum))
        throw new Error(
          `training diverged at step ${step + 1}: loss ${lossSum / accumulate}, gradient norm ${gradNorm}`,
        );
      // mean over micro-batches, then clipped: one multiply does both
      const factor = (1 / accumulate) * (clip > 0 && gradNorm > clip ? clip / gradNorm : 1);
      const scaled = grads.map((g) => {
        const s = tf.mul(g, factor);
        g.dispose();
        return s;
      });
      optimizer.step(scaled, lr);
      for (const g of scaled) g.dispose();
      losses.push(lossSum / accumulate);
      const done = step + 1;
      const seconds = (performance.now() - t0) / 1000;
      const perStep = seconds / (done - start);
      options.onStep?.({
        step: done,
        steps,
        loss: lossSum / accumulate,
        lr,
        gradNorm,
        seconds,
        eta: perStep * (steps - done),
        throughput: units / seconds,
        resumed: start > 0,
      });
      if (done % every === 0 || done === steps) await save(done);
    }
    const seconds = (performance.now() - t0) / 1000;
    return {
      steps,
      losses,
      resumedFrom: start,
      seconds,
      secondsPerStep: steps > start ? seconds / (steps - start) : 0,
    };
  } finally {
    optimizer.dispose();
  }
}

function paramShapes(params: ReadonlyMap<string, tf.Variable>): Record<string, string> {
  // the model's structure is part of the fingerprint: a checkpoint of another rank or kind must not load
  let desc = '';
  for (const [n, v] of params) desc += `${n}:${v.shape.join('x')};`;
  let h = 2166136261;
  for (let i = 0; i < desc.length; i++) h = Math.imul(h ^ desc.charCodeAt(i), 16777619) >>> 0;
  return { parameters: `${params.size} tensors, fnv1a ${h.toString(16)}` };
}
