import { InvalidArgumentError, Rng, ShapeError, Tensor } from '@blastkit/core';
import type { DitConfig } from './config.js';

/** What the sampler needs from a DiT: its config and the two forwards of `DitModel`. */
export interface DitDenoiser {
  readonly config: DitConfig;
  forward(x: Tensor, t: Float32Array, y: Int32Array): Promise<Tensor>;
  forwardWithCfg(x: Tensor, t: Float32Array, y: Int32Array, cfgScale: number): Promise<Tensor>;
}

export interface DdimOptions {
  /** One class label per sample. */
  labels: Int32Array | readonly number[];
  /** Sampling steps, spaced evenly over the diffusion (DiT's `space_timesteps(1000, str(steps))`). Default 50. */
  steps?: number;
  /**
   * Classifier-free guidance as DiT's sample.py does it: each sample also runs with the null class and
   * `forwardWithCfg` mixes the two. Absent: no guidance (one forward per step). Needs class_dropout_prob > 0.
   */
  cfgScale?: number;
  /** Initial noise x_T [N, C, S, S]; when absent it is drawn N(0, 1) from core's Rng with `seed`. */
  noise?: Tensor;
  /** Seed of the initial noise (default 0). */
  seed?: number;
  /** Clamp each x₀ prediction to [-1, 1] (the repo's `clip_denoised`; its sample.py passes false). Default false. */
  clipDenoised?: boolean;
  /** Length of the underlying linear-β diffusion (default 1000, as DiT trains). */
  diffusionSteps?: number;
  /** Called after each step with its index (0 = first) and the original timestep it denoised. */
  onStep?: (step: number, timestep: number) => void;
}

/** DiT's `get_named_beta_schedule('linear', n)`: β linear from 0.0001 to 0.02 (scaled by 1000/n), float64. */
export function linearBetaSchedule(numTimesteps = 1000): Float64Array {
  if (!Number.isInteger(numTimesteps) || numTimesteps < 1)
    throw new InvalidArgumentError(`linearBetaSchedule: ${numTimesteps} steps, expected a positive integer`);
  const scale = 1000 / numTimesteps;
  const start = scale * 0.0001;
  const end = scale * 0.02;
  const betas = new Float64Array(numTimesteps);
  // numpy.linspace: start + i·step, the last point exactly `end`
  const step = numTimesteps > 1 ? (end - start) / (numTimesteps - 1) : 0;
  for (let i = 0; i < numTimesteps; i++) betas[i] = start + i * step;
  if (numTimesteps > 1) betas[numTimesteps - 1] = end;
  return betas;
}

/**
 * DiT's `space_timesteps(numTimesteps, str(count))`: `count` timesteps spread evenly over [0, numTimesteps),
 * rounded as Python's round (half to even), ascending.
 */
export function spaceTimesteps(numTimesteps: number, count: number): number[] {
  if (!Number.isInteger(count) || count < 1 || count > numTimesteps)
    throw new InvalidArgumentError(
      `spaceTimesteps: cannot take ${count} steps from a diffusion of ${numTimesteps} steps`,
    );
  const stride = count <= 1 ? 1 : (numTimesteps - 1) / (count - 1);
  const steps = new Set<number>();
  let cur = 0;
  for (let i = 0; i < count; i++) {
    steps.add(roundHalfEven(cur));
    cur += stride;
  }
  return [...steps].sort((a, b) => a - b);
}

/** The respaced diffusion DDIM walks: kept timesteps (ascending) and their ᾱ, as DiT's SpacedDiffusion builds. */
export interface DdimSchedule {
  timesteps: number[];
  alphasCumprod: Float64Array;
}

/** The ᾱ of a linear-β diffusion respaced to `steps` timesteps (SpacedDiffusion's rebuilt betas, cumprod again). */
export function ddimSchedule(steps: number, numTimesteps = 1000): DdimSchedule {
  const betas = linearBetaSchedule(numTimesteps);
  const keep = new Set(spaceTimesteps(numTimesteps, steps));
  const timesteps: number[] = [];
  const alphasCumprod = new Float64Array(keep.size);
  let base = 1;
  let last = 1;
  let spaced = 1;
  for (let i = 0; i < numTimesteps; i++) {
    base *= 1 - betas[i];
    if (!keep.has(i)) continue;
    spaced *= 1 - (1 - base / last);
    last = base;
    alphasCumprod[timesteps.length] = spaced;
    timesteps.push(i);
  }
  return { timesteps, alphasCumprod };
}

/** One sampler step: the next x from the current x and the model output, at schedule index `s`. */
type SamplerUpdate = (args: {
  x: Float32Array;
  out: Tensor;
  s: number;
  step: number;
  alphasCumprod: Float64Array;
  N: number;
  per: number;
  outPer: number;
}) => Float32Array;

/**
 * The loop both samplers share: initial noise (given or seeded), the respaced schedule walked from the last
 * timestep down, and classifier-free guidance batched as DiT's sample.py does ([x; x] with [labels; null],
 * keeping the first half).
 */
async function runSampler(
  model: DitDenoiser,
  options: DdimOptions,
  name: string,
  update: SamplerUpdate,
): Promise<Tensor> {
  const c = model.config;
  const labels = Int32Array.from(options.labels);
  const N = labels.length;
  if (N === 0) throw new InvalidArgumentError(`${name}: no labels, so no samples to draw`);
  const shape = [N, c.inChannels, c.inputSize, c.inputSize];
  const per = c.inChannels * c.inputSize * c.inputSize;
  let x: Float32Array;
  if (options.noise !== undefined) {
    const s = options.noise.shape;
    if (s.length !== 4 || s.some((d, i) => d !== shape[i]))
      throw new ShapeError(`${name}: noise has shape [${s}], expected [${shape}] (one per label)`);
    x = options.noise.data.slice();
  } else x = new Rng(options.seed ?? 0).fillNormal(new Float32Array(N * per)) as Float32Array;
  const guided = options.cfgScale !== undefined;
  if (guided && !(c.classDropoutProb > 0))
    throw new InvalidArgumentError(`${name}: cfgScale needs the null class, but class_dropout_prob is 0`);
  const { timesteps, alphasCumprod } = ddimSchedule(options.steps ?? 50, options.diffusionSteps ?? 1000);
  const yIn = guided ? Int32Array.from([...labels, ...new Array<number>(N).fill(c.numClasses)]) : labels;
  const outPer = c.outChannels * c.inputSize * c.inputSize;
  for (let s = timesteps.length - 1, step = 0; s >= 0; s--, step++) {
    const tIn = new Float32Array(yIn.length).fill(timesteps[s]);
    let out: Tensor;
    if (guided) {
      const xx = new Tensor([2 * N, ...shape.slice(1)]);
      xx.data.set(x);
      xx.data.set(x, N * per);
      out = await model.forwardWithCfg(xx, tIn, yIn, options.cfgScale as number);
    } else out = await model.forward(new Tensor(shape, x), tIn, yIn);
    x = update({ x, out, s, step, alphasCumprod, N, per, outPer });
    options.onStep?.(step, timesteps[s]);
  }
  return new Tensor(shape, x);
}

const f32 = Math.fround; // the repo extracts its float64 coefficients as float32

/**
 * Deterministic DDIM (η = 0) from noise to samples with a DiT predicting ε, as DiT's `ddim_sample_loop` over
 * `create_diffusion(str(steps))`: x₀ = (x − √(1−ᾱ)·ε)/√ᾱ, then x ← √ᾱ′·x₀ + √(1−ᾱ′)·ε. With learn_sigma the
 * variance channels are ignored (they only matter for ancestral sampling). Returns x₀ [N, C, S, S].
 */
export function ddimSample(model: DitDenoiser, options: DdimOptions): Promise<Tensor> {
  return runSampler(model, options, 'ddimSample', ({ x, out, s, alphasCumprod, N, per, outPer }) => {
    const ab = alphasCumprod[s];
    const abPrev = f32(s > 0 ? alphasCumprod[s - 1] : 1);
    const r = f32(Math.sqrt(1 / ab));
    const rm1 = f32(Math.sqrt(1 / ab - 1));
    const keepX0 = Math.sqrt(abPrev);
    const keepEps = Math.sqrt(1 - abPrev);
    const next = new Float32Array(x.length);
    for (let n = 0; n < N; n++)
      for (let i = 0; i < per; i++) {
        const xi = x[n * per + i];
        const eps = out.data[n * outPer + i]; // the first inChannels channels are ε
        let x0 = r * xi - rm1 * eps;
        if (options.clipDenoised) x0 = Math.min(1, Math.max(-1, x0));
        // ε re-derived from x₀, as ddim_sample does (it differs from the model's only after clipping)
        const eps0 = (r * xi - x0) / rm1;
        next[n * per + i] = x0 * keepX0 + keepEps * eps0;
      }
    return next;
  });
}

export interface DdpmOptions extends DdimOptions {
  /**
   * The noise z added after step k (k = 0 first; none after the last step, t = 0), [N, C, S, S]. Default: drawn
   * N(0, 1) from core's Rng seeded with seed + 1 + k.
   */
  stepNoise?: (step: number) => Tensor;
}

/**
 * Ancestral DDPM sampling, DiT's default (`p_sample_loop` over `create_diffusion(str(steps))`), with the learned
 * variance: the model's second C channels v interpolate log σ² between the clipped posterior variance and β
 * (frac = (v + 1)/2), and x ← μ̃(x₀, x) + σ·z, where x₀ = (x − √(1−ᾱ)·ε)/√ᾱ. Needs learn_sigma.
 */
export function ddpmSample(model: DitDenoiser, options: DdpmOptions): Promise<Tensor> {
  if (!model.config.learnSigma)
    throw new InvalidArgumentError(
      'ddpmSample: the model predicts no variance (learn_sigma false); use ddimSample',
    );
  return runSampler(model, options, 'ddpmSample', ({ x, out, s, step, alphasCumprod, N, per, outPer }) => {
    const ab = alphasCumprod[s];
    const abPrev = s > 0 ? alphasCumprod[s - 1] : 1;
    const beta = 1 - ab / abPrev;
    // the posterior variance at index 0 is 0: the clipped log takes index 1's value there, as the repo does
    const postVar = (k: number) => {
      const a = alphasCumprod[k];
      const ap = k > 0 ? alphasCumprod[k - 1] : 1;
      return ((1 - a / ap) * (1 - ap)) / (1 - a);
    };
    const minLog = f32(Math.log(postVar(s > 0 ? s : Math.min(1, alphasCumprod.length - 1))));
    const maxLog = f32(Math.log(beta));
    const r = f32(Math.sqrt(1 / ab));
    const rm1 = f32(Math.sqrt(1 / ab - 1));
    const coef1 = f32((beta * Math.sqrt(abPrev)) / (1 - ab));
    const coef2 = f32(((1 - abPrev) * Math.sqrt(1 - beta)) / (1 - ab));
    let z: Float32Array | undefined;
    if (s > 0) {
      const noise = options.stepNoise?.(step);
      if (noise !== undefined && noise.size !== N * per)
        throw new ShapeError(`ddpmSample: step ${step} noise has ${noise.size} values, expected ${N * per}`);
      z =
        noise?.data ??
        (new Rng((options.seed ?? 0) + 1 + step).fillNormal(new Float32Array(N * per)) as Float32Array);
    }
    const next = new Float32Array(x.length);
    for (let n = 0; n < N; n++)
      for (let i = 0; i < per; i++) {
        const xi = x[n * per + i];
        const eps = out.data[n * outPer + i];
        const v = out.data[n * outPer + per + i]; // the variance channels follow the ε channels
        let x0 = r * xi - rm1 * eps;
        if (options.clipDenoised) x0 = Math.min(1, Math.max(-1, x0));
        const mean = coef1 * x0 + coef2 * xi;
        const frac = (v + 1) / 2;
        const logVar = frac * maxLog + (1 - frac) * minLog;
        next[n * per + i] = z === undefined ? mean : mean + Math.exp(0.5 * logVar) * z[n * per + i];
      }
    return next;
  });
}

/** Python's round(): to the nearest integer, ties to even. */
function roundHalfEven(v: number): number {
  const fl = Math.floor(v);
  const frac = v - fl;
  if (frac > 0.5) return fl + 1;
  if (frac < 0.5) return fl;
  return fl % 2 === 0 ? fl : fl + 1;
}
