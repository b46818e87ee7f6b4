import { type Backend, type StructuredMatrix, Tensor } from '@blastkit/core';
import {
  batchRows,
  type CalibrationFeed,
  type DecoderLm,
  type DitDenoiser,
  denseLinear,
  type LoadedModel,
  linearCandidates,
  linearInputs,
  loadModel,
  ModelInputError,
  type ModelTask,
  type OpenedModel,
} from '@blastkit/models';
import {
  type ClassificationResult,
  classificationMetrics,
  type ImageClassifier,
  seededImages,
} from './classification.js';
import {
  type NoisePredictionInputs,
  noisedLatentFeed,
  noisePredictionError,
  sampleAgreement,
  seededNoiseInputs,
} from './diffusion.js';
import { type LayerErrorResult, linearOutputErrors } from './layer-error.js';
import { type ComparisonResult, compareModels, type PerplexityResult, perplexity } from './metrics.js';
import { type EvalBudget, type EvalContext, type EvalRecord, evalRecord } from './record.js';
import type { WindowProtocol } from './windows.js';

/** A loaded decoder language model (the registry's `causal-lm` task). */
// biome-ignore lint/suspicious/noExplicitAny: any decoder's cache type will do
export type LoadedDecoder = LoadedModel & DecoderLm<any>;

/** What a language model is scored on. */
export interface CausalLmInputs {
  /**
   * The evaluation text's tokens (no BOS: windows get the prefix token), given the model that samples
   * in-domain text (the reference, else the model) and the prompt sampling starts from.
   */
  text(sampler: LoadedDecoder, prompt: number[]): Promise<{ source: string; ids: number[] }>;
  /** Tokens per window (default min(256, context)) and the stride (default half a window). */
  window?: number;
  stride?: number;
  /** Tokens of the text the per-layer errors run on (default 256). */
  layerTokens?: number;
}

/** What an image classifier is scored on: labelled images, or seeded N(0, 1) pixels compared with a reference. */
export interface ImageClassificationInputs {
  images?: { pixels: Tensor; labels?: Int32Array; source: string };
  /** Seeded images when none are given (default 32). */
  samples?: number;
  /** Images the per-layer errors run on (default 2, the first ones). */
  layerImages?: number;
}

/** How a denoiser is compared with its reference: noise prediction on seeded latents, then samples drawn. */
export interface DiffusionInputs {
  /** Seeded noise-prediction latents (default 16). */
  samples?: number;
  sampler?: 'ddim' | 'ddpm';
  /** Sampling steps (default 25) and samples drawn (default 4). */
  sampleSteps?: number;
  sampleImages?: number;
  cfgScale?: number;
  /** Latents the per-layer errors run on (default 2, the first ones). */
  layerLatents?: number;
}

/** The inputs of each task's protocol. */
export interface TaskInputs {
  'causal-lm': CausalLmInputs;
  'image-classification': ImageClassificationInputs;
  diffusion: DiffusionInputs;
}

export interface EvaluateOptions {
  backend: Backend;
  /** What every record says about the run: model, reference, method, budget, backend. */
  context: EvalContext;
  /** Seed of every seeded input (tokens, images, latents, sampler noise). */
  seed?: number;
  /** Progress of each phase ('windows', 'classification', 'noise-prediction', 'samples', 'layers'). */
  onProgress?: (phase: string, done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface EvaluationResult {
  /** Every measurement as a record: the task's metrics, then the per-layer output errors. */
  records: EvalRecord[];
  /** Language models: the scored text and the window protocol, and the perplexity or the comparison. */
  text?: { source: string; tokens: number };
  protocol?: WindowProtocol;
  perplexity?: PerplexityResult;
  comparison?: ComparisonResult;
  /** With a reference and a compressed candidate: each compressed linear's output error. */
  layers?: LayerErrorResult;
}

/**
 * Evaluates an opened model, alone or against its dense reference, by its task's protocol: perplexity or KL /
 * top-1 agreement (causal LM), accuracy and agreement (image classification), noise-prediction error and
 * sample agreement (diffusion, against a reference only) — then, with a reference, the output error of every
 * compressed linear on the inputs it sees in the reference (through the adapters' observe hook).
 */
export async function evaluate<T extends ModelTask>(
  task: T,
  candidate: OpenedModel,
  reference: OpenedModel | undefined,
  inputs: TaskInputs[T],
  options: EvaluateOptions,
): Promise<EvaluationResult> {
  if (candidate.entry.task !== task)
    throw new ModelInputError(`${candidate.description} is a ${candidate.entry.task} model, not ${task}`);
  if (reference && reference.entry !== candidate.entry)
    throw new ModelInputError(
      `${candidate.description} is a ${candidate.architecture} model, the reference ${reference.description} a ${reference.architecture} one`,
    );
  const { backend } = options;
  const result: EvaluationResult = { records: [] };
  let layerFeed: { feed: CalibrationFeed; describe: string };
  const model = await loadModel(candidate, backend);
  const ref = reference ? await loadModel(reference, backend).catch(disposing(model)) : undefined;
  try {
    const run = { model, ref, candidate, options, result };
    if (task === 'causal-lm') layerFeed = await causalLm(run, inputs as CausalLmInputs);
    else if (task === 'image-classification')
      layerFeed = await classification(run, inputs as ImageClassificationInputs);
    else layerFeed = await diffusion(run, inputs as DiffusionInputs);
  } finally {
    model.dispose();
    ref?.dispose();
  }
  if (reference && candidate.replacements.size > 0) {
    result.layers = await layerErrors(candidate, reference, layerFeed, options);
    result.records.push(evalRecord('layer-output-error', options.context, result.layers));
  }
  return result;
}

/** The linears' parameters as stored and dense: the budget every record carries. */
export function evalBudget(m: OpenedModel, ratio: number | null): EvalBudget {
  let parameters = 0;
  let denseParameters = 0;
  for (const module of linearCandidates(m)) {
    const structure = m.replacements.get(module);
    const dense = structure
      ? structure.shape[0] * structure.shape[1]
      : m.source.shapeOf(`${module}.weight`).reduce((a, b) => a * b, 1);
    denseParameters += dense;
    parameters += structure ? structure.parameterCount : dense;
  }
  for (const b of m.biases.values()) parameters += b.size;
  return { ratio, parameters, denseParameters };
}

interface Run {
  model: LoadedModel;
  ref: LoadedModel | undefined;
  candidate: OpenedModel;
  options: EvaluateOptions;
  result: EvaluationResult;
}

type LayerFeed = { feed: CalibrationFeed; describe: string };

async function causalLm(run: Run, inputs: CausalLmInputs): Promise<LayerFeed> {
  const { candidate, options, result } = run;
  const lm = run.model as LoadedDecoder;
  const refLm = run.ref as LoadedDecoder | undefined;
  const context = lm.config.maxPositionEmbeddings;
  const prefixToken = candidate.entry.decoder?.prefixToken(candidate.config) ?? null;
  const window = inputs.window ?? Math.min(256, context);
  const protocol: WindowProtocol = { window, stride: inputs.stride ?? Math.floor(window / 2), prefixToken };
  const text = await inputs.text(
    refLm ?? lm,
    prefixToken === null ? [lm.config.eosTokenId ?? 0] : [prefixToken],
  );
  result.text = { source: text.source, tokens: text.ids.length };
  result.protocol = protocol;
  const recorded = { ...protocol, text: text.source, tokens: text.ids.length };
  const windows = {
    onWindow: (d: number, t: number) => options.onProgress?.('windows', d, t),
    signal: options.signal,
  };
  if (refLm) {
    result.comparison = await compareModels(refLm, lm, text.ids, protocol, windows);
    result.records.push(
      evalRecord('comparison', options.context, { ...result.comparison, protocol: recorded }),
    );
  } else {
    result.perplexity = await perplexity(lm, text.ids, protocol, windows);
    result.records.push(
      evalRecord('perplexity', options.context, { ...result.perplexity, protocol: recorded }),
    );
  }
  // per-layer inputs: the start of the same text, in context-sized sequences, each after the prefix token
  const layerTokens = text.ids.slice(0, inputs.layerTokens ?? 256);
  const span = Math.min(128, context) - (prefixToken === null ? 0 : 1);
  const sequences: number[][] = [];
  for (let i = 0; i < layerTokens.length; i += span) {
    const chunk = layerTokens.slice(i, i + span);
    sequences.push(prefixToken === null ? chunk : [prefixToken, ...chunk]);
  }
  return {
    feed: { kind: 'tokens', sequences },
    describe: `${sequences.reduce((a, s) => a + s.length, 0)} tokens (${sequences.length} sequences) of the evaluation text`,
  };
}

async function classification(run: Run, inputs: ImageClassificationInputs): Promise<LayerFeed> {
  const { options } = run;
  const seed = options.seed ?? 0;
  const model = run.model as LoadedModel & ImageClassifier;
  const images = inputs.images ?? {
    pixels: seededImages(model.config, inputs.samples ?? 32, seed),
    labels: undefined,
    source: `seeded: N(0, 1) pixels, Rng(${seed}) (no data given)`,
  };
  if (images.labels === undefined && run.ref === undefined)
    throw new ModelInputError('an image classifier needs labelled images, or a reference to compare with');
  const r: ClassificationResult = await classificationMetrics(model, images.pixels, {
    ...(images.labels ? { labels: images.labels } : {}),
    ...(run.ref ? { reference: run.ref as LoadedModel & ImageClassifier } : {}),
    source: images.source,
    seed: inputs.images ? null : seed,
    onBatch: (d, t) => options.onProgress?.('classification', d, t),
    signal: options.signal,
  });
  run.result.records.push(evalRecord('classification', options.context, r));
  const n = Math.min(inputs.layerImages ?? 2, images.pixels.shape[0]);
  return {
    feed: { kind: 'images', images: batchRows(images.pixels, 0, n), batchSize: 8 },
    describe: `the first ${n} of the classification images`,
  };
}

async function diffusion(run: Run, inputs: DiffusionInputs): Promise<LayerFeed> {
  const { options } = run;
  const seed = options.seed ?? 0;
  if (run.ref === undefined)
    throw new ModelInputError(
      'a diffusion model is evaluated against a reference (the dense model): noise-prediction error and sample agreement',
    );
  const dense = run.ref as LoadedModel & DitDenoiser;
  const model = run.model as LoadedModel & DitDenoiser;
  const count = inputs.samples ?? 16;
  const latents = seededNoiseInputs(dense.config, count, seed);
  const source = `seeded: x₀ and ε ~ N(0, 1), t ~ U{0…999}, y ~ U{0…${dense.config.numClasses - 1}}, Rng(${seed}) (no data given)`;
  const noise = await noisePredictionError(dense, model, latents, {
    source,
    seed,
    onBatch: (d, t) => options.onProgress?.('noise-prediction', d, t),
    signal: options.signal,
  });
  run.result.records.push(evalRecord('noise-prediction', options.context, noise));
  const samples = await sampleAgreement(dense, model, {
    sampler: inputs.sampler ?? 'ddim',
    steps: inputs.sampleSteps ?? 25,
    count: inputs.sampleImages ?? 4,
    seed,
    ...(inputs.cfgScale === undefined ? {} : { cfgScale: inputs.cfgScale }),
    onStep: (d, t) => options.onProgress?.('samples', d, t),
    signal: options.signal,
  });
  run.result.records.push(evalRecord('sample-agreement', options.context, samples));
  const n = Math.min(inputs.layerLatents ?? 2, count);
  const first: NoisePredictionInputs = {
    x0: batchRows(latents.x0, 0, n),
    noise: batchRows(latents.noise, 0, n),
    timesteps: latents.timesteps.slice(0, n),
    labels: latents.labels.slice(0, n),
  };
  return {
    feed: noisedLatentFeed(first, 8),
    describe: `the first ${n} of the noise-prediction latents, noised at their timesteps`,
  };
}

/** Per-layer output errors of the candidate's compressed linears, on the reference's inputs from the feed. */
async function layerErrors(
  candidate: OpenedModel,
  reference: OpenedModel,
  { feed, describe }: LayerFeed,
  options: EvaluateOptions,
): Promise<LayerErrorResult> {
  const order = linearCandidates(reference);
  const missing = [...candidate.replacements.keys()].filter((m) => !order.includes(m));
  if (missing.length > 0) throw new ModelInputError(`the reference has no linear '${missing[0]}'`);
  // network order (a folder lists its modules in whatever order its file had them)
  const modules = order.filter((m) => candidate.replacements.has(m));
  const structures = new Map(modules.map((m) => [m, candidate.replacements.get(m) as StructuredMatrix]));
  const inputs = await linearInputs(reference, options.backend, modules, feed);
  const biases = await compressionBiases(candidate, reference, modules);
  return linearOutputErrors(inputs, (m) => denseLinear(reference, m), structures, {
    biases,
    backend: options.backend,
    inputs: `${describe}, through the reference model`,
    onLayer: (d, t) => options.onProgress?.('layers', d, t),
    signal: options.signal,
  });
}

/**
 * The output biases that came with the compression: kept apart (architectures whose folders store them so, or
 * a model just compressed), or — where the folder folds ROM's bias into the layer's own — the candidate's bias
 * minus the reference's.
 */
async function compressionBiases(
  candidate: OpenedModel,
  reference: OpenedModel,
  modules: readonly string[],
): Promise<Map<string, Tensor>> {
  const out = new Map(candidate.biases);
  if (candidate.entry.biasesApart) return out;
  const have = new Set(candidate.source.names());
  const refHave = new Set(reference.source.names());
  for (const m of modules) {
    const name = `${m}.bias`;
    if (out.has(m) || !have.has(name) || !refHave.has(name)) continue;
    const [a, b] = await Promise.all([candidate.source.readTensor(name), reference.source.readTensor(name)]);
    if (a.size !== b.size) continue;
    let differs = false;
    const d = new Tensor(a.shape);
    for (let i = 0; i < a.size; i++) {
      d.data[i] = a.data[i] - b.data[i];
      if (d.data[i] !== 0) differs = true;
    }
    if (differs) out.set(m, d);
  }
  return out;
}

/** Frees `model` when loading the second model fails, then rethrows. */
function disposing(model: LoadedModel) {
  return (err: unknown): never => {
    model.dispose();
    throw err;
  };
}
