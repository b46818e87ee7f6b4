import { InvalidArgumentError, ShapeError } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';

/** AdamW hyper-parameters; defaults are PyTorch's (0.9, 0.999, 1e-8, weight decay 0.01). */
export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  weightDecay?: number;
  /**
   * Per variable (same order): whether weight decay applies. Default: every variable. Norm weights and
   * biases are usually excluded, since decaying a norm gain towards 0 is not a regulariser.
   */
  decay?: boolean[];
}

/** Optimizer state as plain tensors, for checkpoints. */
export interface AdamWState {
  step: number;
  tensors: Record<string, tf.Tensor>;
}

/**
 * Adam with decoupled weight decay (Loshchilov & Hutter): θ ← θ − lr·(m̂/(√v̂ + ε) + λθ), the update
 * PyTorch's AdamW applies. Moments live in float32 tf variables next to the parameters.
 */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  private readonly decay: boolean[];
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];
  private t = 0;

  constructor(
    readonly variables: tf.Variable[],
    options: AdamWOptions = {},
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    for (const [k, v] of [
      ['beta1', this.beta1],
      ['beta2', this.beta2],
    ] as const) {
      if (!(v >= 0 && v < 1)) throw new InvalidArgumentError(`AdamW: ${k} must be in [0, 1), got ${v}`);
    }
    if (!(this.epsilon > 0))
      throw new InvalidArgumentError(`AdamW: epsilon must be > 0, got ${this.epsilon}`);
    if (!(this.weightDecay >= 0))
      throw new InvalidArgumentError(`AdamW: weightDecay must be ≥ 0, got ${this.weightDecay}`);
    if (options.decay && options.decay.length !== variables.length)
      throw new InvalidArgumentError(
        `AdamW: decay has ${options.decay.length} entries for ${variables.length} variables`,
      );
    this.decay = options.decay ? [...options.decay] : variables.map(() => true);
    this.m = variables.map((v) => tf.variable(tf.zerosLike(v), false));
    this.v = variables.map((v) => tf.variable(tf.zerosLike(v), false));
  }

  /** Updates applied so far. */
  get stepCount(): number {
    return this.t;
  }

  /** One update with these gradients (same order as `variables`) at learning rate lr. */
  step(grads: tf.Tensor[], lr: number): void {
    if (grads.length !== this.variables.length)
      throw new InvalidArgumentError(
        `AdamW.step: ${grads.length} gradients for ${this.variables.length} variables`,
      );
    if (!Number.isFinite(lr) || lr < 0) throw new InvalidArgumentError(`AdamW.step: bad learning rate ${lr}`);
    // every shape checked before anything moves: a bad gradient list leaves model and moments as they were
    for (let i = 0; i < this.variables.length; i++)
      if (!sameShape(grads[i].shape, this.variables[i].shape))
        throw new ShapeError(
          `AdamW.step: gradient ${i} has shape [${grads[i].shape}], variable [${this.variables[i].shape}]`,
        );
    this.t += 1;
    // Bias corrections in float64 on the host; only the scalars go to the engine.
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    const stepSize = lr / c1;
    const sqrtC2 = Math.sqrt(c2);
    const keepAfterDecay = 1 - lr * this.weightDecay;
    for (let i = 0; i < this.variables.length; i++) {
      const p = this.variables[i];
      const g = grads[i];
      // One tidy per variable: the temporaries of a 400 MB matrix are freed before the next one's are made
      // (one tidy around all of them held ~13 parameter-sized copies of the whole model at once).
      tf.tidy(() => {
        // m ← m + (1−β1)(g − m), v ← v + (1−β2)(g² − v): β·m + (1−β)·g in one op fewer
        const m = tf.add(this.m[i], tf.mul(tf.sub(g, this.m[i]), 1 - this.beta1));
        const v = tf.add(this.v[i], tf.mul(tf.sub(tf.square(g), this.v[i]), 1 - this.beta2));
        this.m[i].assign(m);
        this.v[i].assign(v);
        // m̂/(√v̂+ε) = (m/c1)/(√v/√c2 + ε) = (m/c1)·√c2/(√v + ε√c2): the scalars fold on the host
        const update = tf.mul(tf.div(m, tf.add(tf.sqrt(v), this.epsilon * sqrtC2)), stepSize * sqrtC2);
        // decoupled decay: p − lr·wd·p − update
        const decayed = this.decay[i] && this.weightDecay > 0 ? tf.mul(p, keepAfterDecay) : p;
        p.assign(tf.sub(decayed, update));
      });
    }
  }

  /** Moments and step count, for checkpoints (the tensors are copies the caller owns). */
  state(): AdamWState {
    const tensors: Record<string, tf.Tensor> = {};
    for (let i = 0; i < this.variables.length; i++) {
      tensors[`adamw.m.${i}`] = tf.clone(this.m[i]);
      tensors[`adamw.v.${i}`] = tf.clone(this.v[i]);
    }
    return { step: this.t, tensors };
  }

  /** Restores `state()` output; shapes must match the variables'. The caller keeps owning the tensors. */
  loadState(state: AdamWState): void {
    if (!Number.isInteger(state.step) || state.step < 0)
      throw new InvalidArgumentError(`AdamW.loadState: bad step ${state.step}`);
    for (let i = 0; i < this.variables.length; i++) {
      for (const [key, slot] of [
        [`adamw.m.${i}`, this.m[i]],
        [`adamw.v.${i}`, this.v[i]],
      ] as const) {
        const t = state.tensors[key];
        if (!t) throw new ShapeError(`AdamW.loadState: missing tensor '${key}'`);
        if (!sameShape(t.shape, slot.shape))
          throw new ShapeError(`AdamW.loadState: '${key}' has shape [${t.shape}], expected [${slot.shape}]`);
        tf.tidy(() => slot.assign(tf.cast(t, 'float32')));
      }
    }
    this.t = state.step;
  }

  /** Frees the moment variables (not the parameters). */
  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose();
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Cosine schedule options: peak lr, linear warmup steps, total steps, final floor (default 0). */
export interface CosineScheduleOptions {
  peak: number;
  warmupSteps: number;
  totalSteps: number;
  floor?: number;
}

/**
 * Learning rate at 0-based `step`: linear warmup to `peak` over `warmupSteps` (step 0 already gets
 * peak/warmupSteps, so no step is wasted at lr 0), then half a cosine from peak down to `floor` at
 * `totalSteps`; constant `floor` after that.
 */
export function cosineSchedule(step: number, o: CosineScheduleOptions): number {
  const floor = o.floor ?? 0;
  if (!(o.peak >= 0) || !(floor >= 0) || !(o.warmupSteps >= 0) || !(o.totalSteps > 0))
    throw new InvalidArgumentError(
      `cosineSchedule: need peak ≥ 0, floor ≥ 0, warmupSteps ≥ 0, totalSteps > 0 (got ${JSON.stringify(o)})`,
    );
  if (step < 0) throw new InvalidArgumentError(`cosineSchedule: step must be ≥ 0, got ${step}`);
  if (step < o.warmupSteps) return (o.peak * (step + 1)) / o.warmupSteps;
  const span = o.totalSteps - o.warmupSteps;
  if (span <= 0) return o.peak;
  const progress = Math.min(1, (step - o.warmupSteps) / span);
  return floor + (o.peak - floor) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
