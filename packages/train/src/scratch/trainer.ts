import { InvalidArgumentError } from '@blastkit/core';
import type * as tf from '@tensorflow/tfjs-core';
import { ensureGradients } from '../engine/gradients.js';
import { TrainingInterruptedError, trainLoop } from '../train/loop.js';
import type { ScratchParam } from './nn.js';

/** What the trainer needs of a model: its parameters (named, in a fixed order) and its config. */
export interface ScratchModel {
  readonly config: object;
  params(): ScratchParam[];
}

/** Optimisation settings of a from-scratch run (AdamW with a linear-warmup cosine schedule). */
export interface ScratchTrainOptions {
  steps: number;
  batchSize: number;
  /** Peak learning rate, reached after `warmupSteps`; cosine decay to `minLr` (default 0) at `steps`. */
  lr: number;
  warmupSteps: number;
  minLr?: number;
  /** AdamW decoupled weight decay on matrices and embeddings (not on norms, biases, position tables). */
  weightDecay?: number;
  beta2?: number;
  /** Clip the global gradient norm to this (default 1; 0 turns clipping off). */
  clipNorm?: number;
  /** Seed of the data order (the model's init has its own seed in its config). */
  seed: number;
}

/** Checkpointing: where and how often (the package's training loop writes them atomically). */
export interface ScratchCheckpointOptions {
  path: string;
  /** Write every this many steps (and always when interrupted or done). */
  every: number;
  /** Resume from `path` when it exists (default true); a checkpoint of another run is refused. */
  resume?: boolean;
}

/** A progress report, every `progressEvery` steps. */
export interface ScratchProgress {
  step: number;
  steps: number;
  /** Mean training loss over the steps since the previous report. */
  loss: number;
  lr: number;
  elapsedSeconds: number;
  etaSeconds: number;
}

export interface ScratchRunOptions {
  checkpoint?: ScratchCheckpointOptions;
  /** Stops after the current step; the state is checkpointed (when a path is set) so the run can resume. */
  signal?: AbortSignal;
  onProgress?: (p: ScratchProgress) => void;
  progressEvery?: number;
}

export interface ScratchTrainResult {
  /** Steps completed (equal to `steps` unless interrupted). */
  step: number;
  /** Training loss of every step so far, resumed steps included. */
  losses: number[];
  /** Step the run resumed from (0 for a fresh run). */
  resumedFrom: number;
  interrupted: boolean;
  /** Median wall time of a step in this process (robust to the first steps' kernel set-up). */
  secondsPerStep: number;
  /** Wall time of the steps run in this process. */
  seconds: number;
}

function checkOptions(o: ScratchTrainOptions): void {
  for (const key of ['steps', 'batchSize'] as const)
    if (!Number.isInteger(o[key]) || o[key] <= 0)
      throw new InvalidArgumentError(`training: ${key} must be a positive integer, got ${o[key]}`);
  if (!Number.isInteger(o.warmupSteps) || o.warmupSteps < 0)
    throw new InvalidArgumentError(
      `training: warmupSteps must be a non-negative integer, got ${o.warmupSteps}`,
    );
  if (!(o.lr > 0)) throw new InvalidArgumentError(`training: lr must be positive, got ${o.lr}`);
  if (!Number.isFinite(o.seed)) throw new InvalidArgumentError(`training: seed must be a number`);
}

/**
 * Runs `options.steps` AdamW steps of `lossAt(step)` (a scalar built from the model's variables; the batch
 * must be a function of the step alone, so a resumed run sees the same data as an uninterrupted one) through
 * the package's training loop (`trainLoop`: cosine schedule, clipping, atomic checkpoints, exact resume).
 * `runKey` names what else determines the run (the data); with the model config and the options it forms the
 * checkpoint fingerprint, so a checkpoint of another run is refused rather than silently resumed.
 */
export async function trainScratchSteps(
  model: ScratchModel,
  lossAt: (step: number) => tf.Scalar,
  options: ScratchTrainOptions,
  run: ScratchRunOptions = {},
  runKey = '',
): Promise<ScratchTrainResult> {
  checkOptions(options);
  ensureGradients();
  const params = model.params();
  const byName = new Map(params.map((p) => [p.name, p.variable]));
  if (byName.size !== params.length) throw new InvalidArgumentError('training: parameter names repeat');
  const noDecay = new Set(params.filter((p) => !p.decay).map((p) => p.name));
  const every = run.progressEvery ?? 50;
  const times: number[] = [];
  const seen: number[] = [];
  let last = 0;
  let recent: number[] = [];
  let step = 0;
  let interrupted = false;
  let result: Awaited<ReturnType<typeof trainLoop>> | undefined;
  try {
    result = await trainLoop({
      params: byName,
      steps: options.steps,
      lr: options.lr,
      warmupSteps: options.warmupSteps,
      lrFloor: options.minLr ?? 0,
      optimizer: { weightDecay: options.weightDecay ?? 0.01, beta2: options.beta2 ?? 0.999 },
      noDecay: (name) => noDecay.has(name),
      clipNorm: options.clipNorm ?? 1,
      prepare: (s) => ({ loss: () => lossAt(s), size: options.batchSize }),
      checkpoint: run.checkpoint?.path,
      checkpointEvery: run.checkpoint?.every,
      resume: run.checkpoint ? (run.checkpoint.resume ?? true) : false,
      fingerprint: {
        model: JSON.stringify(model.config),
        options: JSON.stringify(options),
        data: runKey,
      },
      signal: run.signal,
      onStep: (e) => {
        step = e.step;
        times.push(e.seconds - last);
        last = e.seconds;
        recent.push(e.loss);
        seen.push(e.loss);
        if (run.onProgress && (e.step % every === 0 || e.step === e.steps)) {
          run.onProgress({
            step: e.step,
            steps: e.steps,
            loss: recent.reduce((a, b) => a + b, 0) / recent.length,
            lr: e.lr,
            elapsedSeconds: e.seconds,
            etaSeconds: e.eta,
          });
          recent = [];
        }
      },
    });
  } catch (err) {
    if (!(err instanceof TrainingInterruptedError)) throw err;
    interrupted = true;
    step = err.step;
  }
  const sorted = [...times].sort((a, b) => a - b);
  return {
    step: result ? result.steps : step,
    // an interrupted run reports the steps of this process (the checkpoint holds the whole curve)
    losses: result ? result.losses : seen,
    resumedFrom: result ? result.resumedFrom : Math.max(0, step - times.length),
    interrupted,
    secondsPerStep: sorted.length > 0 ? sorted[Math.floor(sorted.length / 2)] : Number.NaN,
    seconds: times.reduce((a, b) => a + b, 0),
  };
}
