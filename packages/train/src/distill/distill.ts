import { InvalidArgumentError, Rng } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import type { TfLlama } from '../llama/tf-llama.js';
import { type MicroBatch, type StepEvent, type TrainLoopResult, trainLoop } from '../train/loop.js';
import { autoLossMode, type DistillLossOptions, type DistillLossParts, distillationLoss } from './loss.js';

export interface DistillOptions extends DistillLossOptions {
  /** Optimizer steps. */
  steps: number;
  /** Peak learning rate (default 1e-3). */
  lr?: number;
  warmupSteps?: number;
  /** Final learning rate as a fraction of the peak (default 0.1). */
  lrFloorFraction?: number;
  /** AdamW weight decay on factors (default 0: the compressed factors are the prior); never on norms. */
  weightDecay?: number;
  /** Sequences per micro-batch (default 2). */
  batch?: number;
  /** Micro-batches per optimizer step (default 1). */
  accumulate?: number;
  /** Tokens per training sequence (default: the context, 256 for stories15M); longer texts are cut. */
  seqLen?: number;
  /** Seed of the data order. */
  seed?: number;
  clipNorm?: number;
  checkpoint?: string;
  checkpointEvery?: number;
  resume?: boolean;
  /** Extra settings that must match on resume (the models' identities, the text's). */
  fingerprint?: Record<string, string | number | boolean>;
  signal?: AbortSignal;
  onStep?: (event: StepEvent & { kl: number; ce: number }) => void;
}

export interface DistillResult extends TrainLoopResult {
  /** Chunks of seqLen tokens the text was cut into. */
  chunks: number;
  tokensPerStep: number;
  /** KL(teacher ‖ student) at the temperature, per step. */
  kl: number[];
}

interface Chunk {
  ids: Int32Array;
  /** Next token of each position in its source sequence, or -1 past its end. */
  targets: Int32Array;
}

/** Cuts token sequences into training chunks of `seqLen` (a remainder shorter than seqLen is dropped). */
export function chunkSequences(sequences: readonly Int32Array[], seqLen: number): Chunk[] {
  const out: Chunk[] = [];
  for (const s of sequences)
    for (let start = 0; start + seqLen <= s.length; start += seqLen) {
      const ids = s.slice(start, start + seqLen);
      const targets = new Int32Array(seqLen);
      for (let t = 0; t < seqLen; t++) targets[t] = start + t + 1 < s.length ? s[start + t + 1] : -1;
      out.push({ ids, targets });
    }
  return out;
}

function permutation(n: number, rng: Rng): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/**
 * Knowledge distillation of `student` from `teacher` on token sequences (the BLAST paper's re-training after
 * compression): the student's decoder-linear factors and norm gains are trained, its embedding and head
 * stay frozen, the loss is T²·KL(teacher_T ‖ student_T) (+ optional next-token CE). Data order is a seeded
 * shuffle per epoch, a function of (step, micro-batch) only, so a resumed run equals an uninterrupted one.
 * The teacher's final hidden states are computed once per chunk (one chunk at a time, so the numbers do not
 * depend on batch composition) and kept; its logits are one GEMM per micro-batch.
 */
export async function distill(
  student: TfLlama,
  teacher: TfLlama,
  sequences: readonly Int32Array[],
  options: DistillOptions,
): Promise<DistillResult> {
  const seqLen = options.seqLen ?? student.config.maxPositionEmbeddings;
  const batch = options.batch ?? 2;
  const accumulate = options.accumulate ?? 1;
  if (!Number.isInteger(seqLen) || seqLen < 2 || seqLen > student.config.maxPositionEmbeddings)
    throw new InvalidArgumentError(
      `distill: seqLen must be in [2, ${student.config.maxPositionEmbeddings}], got ${seqLen}`,
    );
  if (!Number.isInteger(batch) || batch <= 0)
    throw new InvalidArgumentError(`distill: batch must be a positive integer, got ${batch}`);
  if (teacher.config.vocabSize !== student.config.vocabSize)
    throw new InvalidArgumentError(
      `distill: teacher vocabulary ${teacher.config.vocabSize} ≠ student ${student.config.vocabSize}`,
    );
  const chunks = chunkSequences(sequences, seqLen);
  if (chunks.length < batch)
    throw new InvalidArgumentError(
      `distill: the text gives ${chunks.length} chunks of ${seqLen} tokens, fewer than one batch (${batch})`,
    );
  const seed = options.seed ?? 0;
  const perms = new Map<number, Int32Array>();
  const chunkAt = (index: number): number => {
    const epoch = Math.floor(index / chunks.length);
    let p = perms.get(epoch);
    if (!p) {
      p = permutation(chunks.length, new Rng(seed * 7919 + epoch));
      perms.set(epoch, p);
    }
    return p[index % chunks.length];
  };
  const teacherHidden = new Map<number, tf.Tensor2D>();
  const hiddenOf = (c: number): tf.Tensor2D => {
    let h = teacherHidden.get(c);
    if (!h) {
      h = teacher.hidden(chunks[c].ids, 1);
      teacherHidden.set(c, h);
    }
    return h;
  };
  const params = new Map<string, tf.Variable>();
  for (const [name, v] of student.namedVariables()) if (v.trainable) params.set(name, v);
  const kl: number[] = [];
  let stepKl = 0;
  let stepCe = 0;
  const lossOptions: DistillLossOptions = {
    temperature: options.temperature ?? 1,
    klWeight: options.klWeight ?? 1,
    ceWeight: options.ceWeight ?? 0,
  };
  const mode = options.mode === undefined || options.mode === 'auto' ? autoLossMode() : options.mode;
  lossOptions.mode = mode;
  const head = { weight: student.headWeight, transposed: student.headTransposed };
  const prepare = (step: number, micro: number): MicroBatch => {
    const picked = Array.from({ length: batch }, (_, k) => chunkAt((step * accumulate + micro) * batch + k));
    const ids = new Int32Array(batch * seqLen);
    const targets = new Int32Array(batch * seqLen);
    picked.forEach((c, k) => {
      ids.set(chunks[c].ids, k * seqLen);
      targets.set(chunks[c].targets, k * seqLen);
    });
    // cached teacher states are made outside the tidy, or it would dispose them
    const states = picked.map(hiddenOf);
    const teacherLogits = tf.tidy(() => teacher.logitsOf(tf.concat(states, 0) as tf.Tensor2D));
    let logits: Float32Array | tf.Tensor2D = teacherLogits;
    if (mode === 'host') {
      logits = teacherLogits.dataSync() as Float32Array;
      teacherLogits.dispose();
    }
    if (micro === 0) {
      stepKl = 0;
      stepCe = 0;
    }
    return {
      loss: () =>
        distillationLoss(
          student.hidden(ids, batch),
          head,
          logits,
          targets,
          lossOptions,
          (p: DistillLossParts) => {
            stepKl += p.kl / accumulate;
            stepCe += p.ce / accumulate;
          },
        ),
      dispose: () => {
        if (logits instanceof tf.Tensor) logits.dispose();
      },
      size: batch * seqLen,
    };
  };
  try {
    const peak = options.lr ?? 1e-3;
    const result = await trainLoop({
      params,
      steps: options.steps,
      accumulate,
      lr: peak,
      warmupSteps: options.warmupSteps,
      lrFloor: peak * (options.lrFloorFraction ?? 0.1),
      optimizer: { weightDecay: options.weightDecay ?? 0 },
      // norm gains and biases are never decayed
      noDecay: (name) => name.endsWith('norm.weight') || name.endsWith('.bias'),
      clipNorm: options.clipNorm,
      prepare,
      checkpoint: options.checkpoint,
      checkpointEvery: options.checkpointEvery,
      resume: options.resume,
      fingerprint: {
        ...options.fingerprint,
        seqLen,
        batch,
        seed,
        chunks: chunks.length,
        temperature: lossOptions.temperature as number,
        klWeight: lossOptions.klWeight as number,
        ceWeight: lossOptions.ceWeight as number,
        weightDecay: options.weightDecay ?? 0,
      },
      signal: options.signal,
      onStep: (e) => {
        kl.push(stepKl);
        options.onStep?.({ ...e, kl: stepKl, ce: stepCe });
      },
    });
    return { ...result, chunks: chunks.length, tokensPerStep: batch * seqLen * accumulate, kl };
  } finally {
    for (const h of teacherHidden.values()) h.dispose();
  }
}
