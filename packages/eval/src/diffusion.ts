import { InvalidArgumentError, Rng, ShapeError, Tensor } from '@blastkit/core';
import {
  type CalibrationFeed,
  type DitDenoiser,
  ddimSample,
  ddpmSample,
  linearBetaSchedule,
} from '@blastkit/models';
import { checkAborted, ErrorAccumulator, psnr } from './stats.js';

/** The inputs of one noise-prediction evaluation: clean latents, their noise, timesteps and class labels. */
export interface NoisePredictionInputs {
  /** Clean latents x₀ [N, C, S, S]. */
  x0: Tensor;
  /** The noise ε [N, C, S, S] mixed into x₀ (what a perfect model predicts). */
  noise: Tensor;
  /** Integer timesteps in [0, diffusionSteps). */
  timesteps: Int32Array;
  /** Class labels in [0, numClasses]. */
  labels: Int32Array;
}

/**
 * Seeded inputs for `noisePredictionError` when there are no data latents: x₀ and ε N(0, 1), timesteps uniform
 * over [0, diffusionSteps), labels uniform over the classes — all from one Rng(seed), in that order.
 */
export function seededNoiseInputs(
  config: DitDenoiser['config'],
  count: number,
  seed: number,
  diffusionSteps = 1000,
): NoisePredictionInputs {
  if (!(Number.isInteger(count) && count >= 1))
    throw new InvalidArgumentError(`sample count ${count} is not a positive integer`);
  const shape = [count, config.inChannels, config.inputSize, config.inputSize];
  const rng = new Rng(seed);
  const x0 = new Tensor(shape);
  rng.fillNormal(x0.data);
  const noise = new Tensor(shape);
  rng.fillNormal(noise.data);
  const timesteps = Int32Array.from({ length: count }, () => rng.int(diffusionSteps));
  const labels = Int32Array.from({ length: count }, () => rng.int(config.numClasses));
  return { x0, noise, timesteps, labels };
}

export interface NoisePredictionProtocol {
  samples: number;
  /** 'given', or how the inputs were drawn (see seededNoiseInputs). */
  source: string;
  seed: number | null;
  /** x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε over DiT's linear β schedule of this many steps. */
  schedule: 'linear';
  diffusionSteps: number;
  batchSize: number;
}

export interface NoisePredictionResult {
  protocol: NoisePredictionProtocol;
  /** The candidate's ε prediction (the first C output channels) against the reference's. */
  epsilon: { meanSquaredError: number; relativeError: number };
  /** The learned-variance channels (learn_sigma), candidate against reference; null without them. */
  variance: { meanSquaredError: number; relativeError: number } | null;
  /** Each model's ε prediction against the true noise: DiT's training loss (simple MSE) on these inputs. */
  denoisingLoss: { reference: number; candidate: number };
  /** The ε relative error by quarter of the diffusion (timesteps [from, to)), quarters with samples only. */
  byTimestep: { from: number; to: number; samples: number; relativeError: number }[];
}

export interface NoisePredictionOptions {
  batchSize?: number;
  diffusionSteps?: number;
  /** Describes the inputs in the protocol (default 'given'). */
  source?: string;
  seed?: number | null;
  onBatch?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/**
 * How far a compressed DiT's noise prediction is from the dense one's on the same noised latents, timesteps
 * and labels: the inputs are noised as DiT's q_sample does (float64 coefficients, one float32 rounding) and run
 * through both models in batches.
 */
export async function noisePredictionError(
  reference: DitDenoiser,
  candidate: DitDenoiser,
  inputs: NoisePredictionInputs,
  options: NoisePredictionOptions = {},
): Promise<NoisePredictionResult> {
  const c = reference.config;
  const cc = candidate.config;
  if (
    cc.inChannels !== c.inChannels ||
    cc.inputSize !== c.inputSize ||
    cc.outChannels !== c.outChannels ||
    cc.numClasses !== c.numClasses
  )
    throw new InvalidArgumentError('the two DiTs differ in input size, channels or classes');
  const { x0, noise, timesteps, labels } = inputs;
  const N = x0.shape[0];
  const shape = [N, c.inChannels, c.inputSize, c.inputSize];
  for (const [name, t] of [
    ['x0', x0],
    ['noise', noise],
  ] as const)
    if (t.rank !== 4 || t.shape.some((d, i) => d !== shape[i]))
      throw new ShapeError(`noise prediction: ${name} has shape [${t.shape}], expected [${shape}]`);
  if (timesteps.length !== N || labels.length !== N)
    throw new InvalidArgumentError(
      `noise prediction: ${timesteps.length} timesteps and ${labels.length} labels for ${N} latents`,
    );
  const steps = options.diffusionSteps ?? 1000;
  const batchSize = options.batchSize ?? 8;
  const per = shape[1] * shape[2] * shape[3];
  const outPer = c.outChannels * shape[2] * shape[3];
  const noisy = noisedLatents(inputs, steps);
  const eps = new ErrorAccumulator();
  const variance = new ErrorAccumulator();
  const lossRef = new ErrorAccumulator();
  const lossCand = new ErrorAccumulator();
  const quarter = steps / 4;
  const buckets = Array.from({ length: 4 }, () => new ErrorAccumulator());
  for (let start = 0; start < N; start += batchSize) {
    checkAborted(options.signal);
    const B = Math.min(batchSize, N - start);
    const xt = new Tensor([B, ...shape.slice(1)], noisy.data.slice(start * per, (start + B) * per));
    const t = Float32Array.from(timesteps.subarray(start, start + B));
    const y = labels.subarray(start, start + B);
    const outRef = (await reference.forward(xt, t, y)).data;
    const outCand = (await candidate.forward(xt, t, y)).data;
    for (let b = 0; b < B; b++) {
      const o = b * outPer;
      eps.add(outCand, outRef, o, per);
      buckets[Math.floor(timesteps[start + b] / quarter)].add(outCand, outRef, o, per);
      if (outPer > per) variance.add(outCand, outRef, o + per, outPer - per);
      const truth = noise.data.subarray((start + b) * per, (start + b + 1) * per);
      lossRef.add(outRef.subarray(o, o + per), truth);
      lossCand.add(outCand.subarray(o, o + per), truth);
    }
    options.onBatch?.(start + B, N);
  }
  return {
    protocol: {
      samples: N,
      source: options.source ?? 'given',
      seed: options.seed ?? null,
      schedule: 'linear',
      diffusionSteps: steps,
      batchSize,
    },
    epsilon: { meanSquaredError: eps.meanSquaredError, relativeError: eps.relativeError },
    variance:
      outPer > per
        ? { meanSquaredError: variance.meanSquaredError, relativeError: variance.relativeError }
        : null,
    denoisingLoss: { reference: lossRef.meanSquaredError, candidate: lossCand.meanSquaredError },
    byTimestep: buckets.flatMap((acc, q) =>
      acc.values === 0
        ? []
        : [
            {
              from: Math.round(q * quarter),
              to: Math.round((q + 1) * quarter),
              samples: acc.values / per,
              relativeError: acc.relativeError,
            },
          ],
    ),
  };
}

/**
 * DiT's q_sample: x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε for each latent at its timestep, over the linear β schedule of
 * `diffusionSteps` steps; coefficients in float64, one rounding to float32. Throws on a timestep out of range.
 */
export function noisedLatents(
  inputs: Pick<NoisePredictionInputs, 'x0' | 'noise' | 'timesteps'>,
  diffusionSteps = 1000,
): Tensor {
  const { x0, noise, timesteps } = inputs;
  if (x0.size !== noise.size) throw new ShapeError(`x0 [${x0.shape}] and noise [${noise.shape}] differ`);
  const N = x0.shape[0];
  if (timesteps.length !== N)
    throw new InvalidArgumentError(`${timesteps.length} timesteps for ${N} latents`);
  const alphaBar = cumulativeAlphas(diffusionSteps);
  const per = x0.size / N;
  const out = new Tensor(x0.shape);
  for (let n = 0; n < N; n++) {
    const t = timesteps[n];
    if (!(Number.isInteger(t) && t >= 0 && t < diffusionSteps))
      throw new InvalidArgumentError(`timestep ${t} is outside [0, ${diffusionSteps})`);
    const a = Math.sqrt(alphaBar[t]);
    const s = Math.sqrt(1 - alphaBar[t]);
    for (let i = n * per; i < (n + 1) * per; i++) out.data[i] = a * x0.data[i] + s * noise.data[i];
  }
  return out;
}

/** ᾱ_t = Π_{s ≤ t} (1 − β_s) of DiT's linear schedule, float64. */
function cumulativeAlphas(steps: number): Float64Array {
  const betas = linearBetaSchedule(steps);
  const out = new Float64Array(steps);
  let p = 1;
  for (let i = 0; i < steps; i++) {
    p *= 1 - betas[i];
    out[i] = p;
  }
  return out;
}

export interface SampleAgreementOptions {
  /** Class labels, one per sample; default: `count` labels drawn uniformly with Rng(seed). */
  labels?: Int32Array | readonly number[];
  /** Samples when labels are not given (default 4). */
  count?: number;
  /** Seed of the labels, the initial noise and (DDPM) every step's noise — the same for both models. */
  seed?: number;
  /** 'ddim' (deterministic, η = 0; default) or 'ddpm' (DiT's ancestral sampler; needs learn_sigma). */
  sampler?: 'ddim' | 'ddpm';
  /** Sampling steps (default 50). */
  steps?: number;
  /** Classifier-free guidance scale; absent: none. */
  cfgScale?: number;
  /** Initial noise instead of the seeded draw (both models start from it). */
  noise?: Tensor;
  onStep?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface SampleAgreementProtocol {
  sampler: 'ddim' | 'ddpm';
  steps: number;
  cfgScale: number | null;
  seed: number;
  labels: number[];
  /** 'seeded' (N(0, 1) from Rng(seed)) or 'given'. */
  noise: 'seeded' | 'given';
  /** PSNR's peak: the range (max − min) of the reference's samples, all samples together. */
  peak: 'reference range';
}

export interface SampleAgreementResult {
  protocol: SampleAgreementProtocol;
  samples: number;
  meanSquaredError: number;
  relativeError: number;
  /** dB; null when the samples are identical. */
  psnr: number | null;
  /** The peak PSNR uses: max − min over the reference's samples. */
  peak: number;
  perSample: { relativeError: number; psnr: number | null }[];
}

/**
 * Final samples of a compressed DiT against the dense one's from the same seeds (labels, initial noise and, for
 * DDPM, every step's noise), through @blastkit/models' samplers: MSE, relative error and PSNR, overall and
 * per sample.
 */
export async function sampleAgreement(
  reference: DitDenoiser,
  candidate: DitDenoiser,
  options: SampleAgreementOptions = {},
): Promise<SampleAgreementResult> {
  const c = reference.config;
  const seed = options.seed ?? 0;
  let labels: Int32Array;
  if (options.labels !== undefined) labels = Int32Array.from(options.labels);
  else {
    const count = options.count ?? 4;
    if (!(Number.isInteger(count) && count >= 1))
      throw new InvalidArgumentError(`sample count ${count} is not a positive integer`);
    // a stream apart from the samplers' Rng(seed), so labels and initial noise are not the same draws
    const rng = new Rng(seed + 7919);
    labels = Int32Array.from({ length: count }, () => rng.int(c.numClasses));
  }
  const sampler = options.sampler ?? 'ddim';
  const steps = options.steps ?? 50;
  const total = 2 * steps;
  let done = 0;
  const run = (model: DitDenoiser) => {
    const common = {
      labels,
      steps,
      seed,
      ...(options.cfgScale === undefined ? {} : { cfgScale: options.cfgScale }),
      ...(options.noise === undefined ? {} : { noise: options.noise }),
      onStep: () => {
        checkAborted(options.signal);
        options.onStep?.(++done, total);
      },
    };
    return sampler === 'ddim' ? ddimSample(model, common) : ddpmSample(model, common);
  };
  checkAborted(options.signal);
  const ref = await run(reference);
  const cand = await run(candidate);
  const N = labels.length;
  const per = ref.size / N;
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of ref.data) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const peak = hi - lo;
  const all = new ErrorAccumulator();
  const perSample: SampleAgreementResult['perSample'] = [];
  for (let n = 0; n < N; n++) {
    const one = new ErrorAccumulator();
    one.add(cand.data, ref.data, n * per, per);
    all.add(cand.data, ref.data, n * per, per);
    perSample.push({ relativeError: one.relativeError, psnr: psnr(peak, one.meanSquaredError) });
  }
  return {
    protocol: {
      sampler,
      steps,
      cfgScale: options.cfgScale ?? null,
      seed,
      labels: [...labels],
      noise: options.noise === undefined ? 'seeded' : 'given',
      peak: 'reference range',
    },
    samples: N,
    meanSquaredError: all.meanSquaredError,
    relativeError: all.relativeError,
    psnr: psnr(peak, all.meanSquaredError),
    peak,
    perSample,
  };
}

/** The calibration feed of a DiT on these inputs: each latent noised at its timestep, with its class label. */
export function noisedLatentFeed(inputs: NoisePredictionInputs, batchSize: number): CalibrationFeed {
  return {
    kind: 'latents',
    latents: noisedLatents(inputs),
    timesteps: Float32Array.from(inputs.timesteps),
    labels: inputs.labels,
    batchSize,
  };
}
