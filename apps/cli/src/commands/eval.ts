import { readFile } from 'node:fs/promises';
import { fetchAsset } from '@blastkit/assets';
import {
  type Backend,
  InvalidArgumentError,
  Rng,
  ShapeError,
  type StructuredMatrix,
  Tensor,
} from '@blastkit/core';
import {
  type ComparisonResult,
  classificationMetrics,
  compareModels,
  type EvalBudget,
  type EvalContext,
  type EvalRecord,
  evalRecord,
  type LayerErrorResult,
  linearOutputErrors,
  noisePredictionError,
  type PerplexityResult,
  perplexity,
  sampleAgreement,
  seededImages,
  seededNoiseInputs,
  type WindowProtocol,
} from '@blastkit/eval';
import {
  type DecoderLm,
  type DitModel,
  type Gpt2Model,
  generate,
  type LlamaModel,
  ModelFormatError,
  type TextTokenizer,
  type VitModel,
} from '@blastkit/models';
import { openSafetensors, SafetensorsError } from '@blastkit/safetensors';
import { backendLine, openCliBackend } from '../backends.js';
import { InterruptedError, UsageError } from '../errors.js';
import {
  denseLinear,
  disposeModel,
  isDecoder,
  type LinearFeed,
  type LoadedModel,
  linearCandidates,
  linearInputs,
  loadModel,
} from '../io/architecture.js';
import { type Architecture, loadTokenizer, type OpenedModel, openModel } from '../io/model-input.js';

/** Where evaluation text comes from: a file, the Moby Dick asset, or text sampled from the reference model. */
export type TextSpec = string;

export interface EvalCommandOptions {
  model: string;
  /** A .txt path, 'moby-dick', or 'in-domain' (sampled from the reference, or the model, seeded). Default moby-dick. */
  text?: TextSpec;
  reference?: string;
  /** tokenizer.json or tokenizer.bin, when none lies beside the model or the reference. */
  tokenizer?: string;
  /** Tokens of text to score at most (default 2048). */
  maxTokens?: number;
  window?: number;
  stride?: number;
  /** Seed of in-domain sampling and of every seeded input (tokens, images, latents, sampler noise). */
  seed?: number;
  backend?: string;
  /** ViT: labelled images, a .safetensors file with `pixel_values` [N, C, S, S] and `labels` [N]. */
  images?: string;
  /** Seeded inputs when no data is given: ViT images (default 32), DiT noise-prediction latents (default 16). */
  samples?: number;
  /**
   * Inputs of the per-layer output errors: tokens for decoders (default 256, from the evaluation text), images
   * for ViT and latents for DiT (default 2, the first of the samples).
   */
  layerInputs?: number;
  /** DiT sample agreement: the sampler (default ddim), its steps (default 25), samples drawn (default 4). */
  sampler?: 'ddim' | 'ddpm';
  sampleSteps?: number;
  sampleImages?: number;
  /** DiT sample agreement with classifier-free guidance at this scale. */
  cfgScale?: number;
  /** Progress of each phase ('perplexity', 'layers', 'noise-prediction', …). */
  onProgress?: (phase: string, done: number, total: number) => void;
  /** Which backend answered, in one line (for `auto`, also why the ones before it did not). */
  onBackend?: (line: string) => void;
  signal?: AbortSignal;
}

export interface EvalCommandResult {
  model: string;
  reference?: string;
  architecture: Architecture;
  backend: string;
  /** Every measurement as a JSON record: metric, model, reference, method, budget, backend, protocol, result. */
  records: EvalRecord[];
  /** What was not measured, and why. */
  notes: string[];
  /** Decoders: the scored text and its window protocol, and the perplexity or the comparison. */
  text?: { source: string; tokens: number };
  protocol?: WindowProtocol;
  perplexity?: PerplexityResult;
  comparison?: ComparisonResult;
  /** With a reference: each compressed linear's output error on the dense model's inputs. */
  layers?: LayerErrorResult;
}

/** Overrides of what a record says about the evaluated model (compress --compare has no folder yet). */
export interface EvalIdentity {
  method?: string | null;
  ratio?: number | null;
}

/** The BOS-like token windows start with: Llama's BOS; GPT-2's BOS (<|endoftext|>) when its config names one. */
function prefixTokenOf(m: OpenedModel): number | null {
  if (m.architecture === 'llama') return m.config.bosTokenId ?? 1;
  if (m.architecture === 'gpt2') return m.config.bosTokenId ?? null;
  return null;
}

/**
 * Tokens of the evaluation text (no BOS: the protocol prefixes every window with it). 'in-domain' is sampled from
 * `sampler` with a fixed seed, temperature 1, top-p 0.9, after `prompt` (Llama's BOS by default) — stories15M
 * has no public evaluation text here.
 */
export async function evaluationTokens(
  spec: TextSpec,
  tokenizer: TextTokenizer,
  maxTokens: number,
  // biome-ignore lint/suspicious/noExplicitAny: any decoder's cache type will do
  sampler: DecoderLm<any>,
  seed: number,
  prompt: number[] = [1],
): Promise<{ source: string; ids: number[] }> {
  if (spec === 'in-domain') {
    const n = Math.min(maxTokens, sampler.config.maxPositionEmbeddings - prompt.length);
    const ids = await generate(sampler, prompt, {
      maxTokens: n,
      temperature: 1,
      topP: 0.9,
      seed,
      stopToken: -1,
    });
    return {
      source: `in-domain: ${ids.length} tokens sampled from the dense model (seed ${seed}, T 1, top-p 0.9)`,
      ids,
    };
  }
  let text: string;
  let source: string;
  if (spec === 'moby-dick') {
    const book = await readFile((await fetchAsset('moby-dick'))['moby-dick.txt'], 'utf8');
    // skip the front matter (contents, etymology, extracts): the story starts at chapter 1's first line
    const start = book.indexOf('Call me Ishmael');
    text = book.slice(Math.max(start, 0));
    source = 'moby-dick (asset, from "Call me Ishmael")';
  } else {
    text = await readFile(spec, 'utf8').catch(() => {
      throw new UsageError(`--text ${spec}: cannot read it (a .txt file, 'moby-dick' or 'in-domain')`);
    });
    source = spec;
  }
  // tokenizing a whole book to keep 2k tokens is wasteful: ~4 characters per token is plenty of margin
  const ids = tokenizer.encode(text.slice(0, maxTokens * 8), { bos: false }).slice(0, maxTokens);
  if (ids.length < 2) throw new UsageError(`--text ${spec}: fewer than 2 tokens`);
  return { source: `${source}: first ${ids.length} tokens`, ids };
}

/** `count` token ids uniform over the vocabulary from Rng(seed): the input when there is no tokenizer. */
export function seededTokens(vocabSize: number, count: number, seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => rng.int(vocabSize));
}

/** `blastkit eval`: the model's metrics, or its comparison with a reference (dense) model. */
export async function runEval(options: EvalCommandOptions): Promise<EvalCommandResult> {
  const opened = await openModel(options.model, { tokenizer: options.tokenizer });
  let reference: OpenedModel | undefined;
  let backend: Backend | undefined;
  try {
    reference = options.reference ? await openModel(options.reference) : undefined;
    const answered = await openCliBackend(options.backend ?? 'auto');
    backend = answered.backend;
    options.onBackend?.(backendLine(answered));
    return await evaluateOpened(opened, reference, backend, answered.description.name, options);
  } catch (err) {
    throw asCommandError(err, options.signal);
  } finally {
    await opened.source.close();
    await reference?.source.close();
    await backend?.close?.();
  }
}

/** Errors of the user's inputs as usage errors, an abort as an interruption. */
export function asCommandError(err: unknown, signal?: AbortSignal): unknown {
  if (signal?.aborted) return new InterruptedError('eval: interrupted');
  if (
    err instanceof ModelFormatError ||
    err instanceof InvalidArgumentError ||
    err instanceof ShapeError ||
    err instanceof SafetensorsError ||
    err instanceof RangeError
  )
    return new UsageError(err.message);
  return err;
}

/** The linears' parameters as stored and dense: the budget every record carries. */
function budgetOf(m: OpenedModel, ratio: number | null): EvalBudget {
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

/**
 * Evaluates an opened model, alone or against an opened reference, on `backend`: what `runEval` does once the
 * arguments are open, and what `compress --compare` runs on a model it has just compressed.
 */
export async function evaluateOpened(
  candidate: OpenedModel,
  reference: OpenedModel | undefined,
  backend: Backend,
  backendName: string,
  options: Omit<EvalCommandOptions, 'model' | 'reference' | 'backend'>,
  identity: EvalIdentity = {},
): Promise<EvalCommandResult> {
  if (reference && reference.architecture !== candidate.architecture)
    throw new UsageError(
      `${candidate.description} is a ${candidate.architecture} model, the reference ${reference.description} a ${reference.architecture} one`,
    );
  const compression = candidate.compression as { method?: string; ratio?: number | null } | undefined;
  const context: EvalContext = {
    model: candidate.description,
    reference: reference?.description ?? null,
    method:
      identity.method !== undefined
        ? identity.method
        : (compression?.method ?? (candidate.replacements.size > 0 ? 'unknown' : null)),
    budget: budgetOf(candidate, identity.ratio !== undefined ? identity.ratio : (compression?.ratio ?? null)),
    backend: backendName,
  };
  // options of another architecture would be ignored silently: say so instead
  const arch = candidate.architecture;
  const misplaced = [
    ['--images', options.images !== undefined && arch !== 'vit', 'ViT'],
    ['--text', options.text !== undefined && !isDecoder(arch), 'Llama and GPT-2'],
    [
      '--sampler, --sample-steps, --sample-images, --cfg-scale',
      [options.sampler, options.sampleSteps, options.sampleImages, options.cfgScale].some(
        (o) => o !== undefined,
      ) && arch !== 'dit',
      'DiT',
    ],
  ] as const;
  for (const [flag, wrong, which] of misplaced)
    if (wrong) throw new UsageError(`${flag}: for ${which} models; ${candidate.description} is ${arch}`);
  const result: EvalCommandResult = {
    model: candidate.description,
    ...(reference ? { reference: reference.description } : {}),
    architecture: candidate.architecture,
    backend: backendName,
    records: [],
    notes: [],
  };
  const progress = (phase: string) => (done: number, total: number) =>
    options.onProgress?.(phase, done, total);
  const seed = options.seed ?? 0;
  let feed: LinearFeed;
  const model = await loadModel(candidate, backend);
  const ref = reference ? await loadModel(reference, backend) : undefined;
  try {
    if (model.architecture === 'llama' || model.architecture === 'gpt2') {
      feed = await evaluateDecoder(candidate, reference, model, ref, options, context, result, seed);
    } else if (model.architecture === 'vit') {
      const images = options.images
        ? await readImages(options.images, candidate)
        : {
            pixels: seededImages(candidate.config as VitModel['config'], options.samples ?? 32, seed),
            labels: undefined,
            source: `seeded: N(0, 1) pixels, Rng(${seed}) (no data given)`,
          };
      if (images.labels === undefined && ref === undefined)
        throw new UsageError(
          'nothing to measure: a ViT needs labelled --images, or --reference (the dense model) to compare with',
        );
      const r = await classificationMetrics(model.model, images.pixels, {
        ...(images.labels ? { labels: images.labels } : {}),
        ...(ref ? { reference: ref.model as VitModel } : {}),
        source: images.source,
        seed: options.images ? null : seed,
        onBatch: progress('classification'),
        signal: options.signal,
      });
      result.records.push(evalRecord('classification', context, r));
      const n = Math.min(options.layerInputs ?? 2, images.pixels.shape[0]);
      const per = images.pixels.size / images.pixels.shape[0];
      feed = {
        kind: 'images',
        images: new Tensor([n, ...images.pixels.shape.slice(1)], images.pixels.data.slice(0, n * per)),
        batchSize: 8,
      };
    } else {
      if (ref === undefined)
        throw new UsageError(
          'a DiT is evaluated against --reference (the dense model): noise-prediction error and sample agreement',
        );
      const dense = ref.model as DitModel;
      const count = options.samples ?? 16;
      const inputs = seededNoiseInputs(dense.config, count, seed);
      const source = `seeded: x₀ and ε ~ N(0, 1), t ~ U{0…999}, y ~ U{0…${dense.config.numClasses - 1}}, Rng(${seed}) (no data given)`;
      const noise = await noisePredictionError(dense, model.model, inputs, {
        source,
        seed,
        onBatch: progress('noise-prediction'),
        signal: options.signal,
      });
      result.records.push(evalRecord('noise-prediction', context, noise));
      const samples = await sampleAgreement(dense, model.model, {
        sampler: options.sampler ?? 'ddim',
        steps: options.sampleSteps ?? 25,
        count: options.sampleImages ?? 4,
        seed,
        ...(options.cfgScale === undefined ? {} : { cfgScale: options.cfgScale }),
        onStep: progress('samples'),
        signal: options.signal,
      });
      result.records.push(evalRecord('sample-agreement', context, samples));
      const n = Math.min(options.layerInputs ?? 2, count);
      const per = inputs.x0.size / count;
      const first = (t: Tensor) => new Tensor([n, ...t.shape.slice(1)], t.data.slice(0, n * per));
      feed = {
        kind: 'latents',
        inputs: {
          x0: first(inputs.x0),
          noise: first(inputs.noise),
          timesteps: inputs.timesteps.slice(0, n),
          labels: inputs.labels.slice(0, n),
        },
        batchSize: 8,
      };
    }
  } finally {
    disposeModel(model);
    if (ref) disposeModel(ref);
  }
  if (reference === undefined) result.notes.push('per-layer output error: needs --reference');
  else if (candidate.replacements.size === 0)
    result.notes.push('per-layer output error: the model has no compressed linears');
  else {
    result.layers = await layerErrors(
      candidate,
      reference,
      backend,
      feed,
      options.signal,
      progress('layers'),
    );
    result.records.push(evalRecord('layer-output-error', context, result.layers));
  }
  return result;
}

async function evaluateDecoder(
  candidate: OpenedModel,
  reference: OpenedModel | undefined,
  model: LoadedModel,
  ref: LoadedModel | undefined,
  options: Omit<EvalCommandOptions, 'model' | 'reference' | 'backend'>,
  context: EvalContext,
  result: EvalCommandResult,
  seed: number,
): Promise<LinearFeed> {
  const lm = model.model as LlamaModel | Gpt2Model;
  const refLm = ref?.model as LlamaModel | Gpt2Model | undefined;
  const context_ = lm.config.maxPositionEmbeddings;
  const prefixToken = prefixTokenOf(candidate);
  const window = options.window ?? Math.min(256, context_);
  const protocol: WindowProtocol = {
    window,
    stride: options.stride ?? Math.floor(window / 2),
    prefixToken,
  };
  const tokenizerPath = options.tokenizer ?? candidate.tokenizerPath ?? reference?.tokenizerPath;
  const maxTokens = options.maxTokens ?? 2048;
  let text: { source: string; ids: number[] };
  if (tokenizerPath) {
    const tokenizer = await loadTokenizer(tokenizerPath);
    text = await evaluationTokens(
      options.text ?? 'moby-dick',
      tokenizer,
      maxTokens,
      refLm ?? lm,
      seed,
      prefixToken === null ? [lm.config.eosTokenId ?? 0] : [prefixToken],
    );
  } else if (refLm) {
    if (options.text !== undefined) throw new UsageError(`--text needs a tokenizer; pass --tokenizer FILE`);
    text = {
      source: `seeded: ${maxTokens} token ids uniform over the vocabulary, Rng(${seed}) (no tokenizer)`,
      ids: seededTokens(lm.config.vocabSize, maxTokens, seed),
    };
  } else
    throw new UsageError(
      `no tokenizer beside ${candidate.description}: perplexity needs one (--tokenizer FILE); ` +
        'with --reference the models are compared on seeded random tokens instead',
    );
  result.text = { source: text.source, tokens: text.ids.length };
  result.protocol = protocol;
  const recorded = { ...protocol, text: text.source, tokens: text.ids.length };
  const run = {
    onWindow: (d: number, t: number) => options.onProgress?.('windows', d, t),
    signal: options.signal,
  };
  if (refLm) {
    result.comparison = await compareModels(refLm, lm, text.ids, protocol, run);
    result.records.push(evalRecord('comparison', context, { ...result.comparison, protocol: recorded }));
  } else {
    result.perplexity = await perplexity(lm, text.ids, protocol, run);
    result.records.push(evalRecord('perplexity', context, { ...result.perplexity, protocol: recorded }));
  }
  // per-layer inputs: the start of the same text, in context-sized sequences, each after the prefix token
  const layerTokens = text.ids.slice(0, options.layerInputs ?? 256);
  const span = Math.min(128, context_) - (prefixToken === null ? 0 : 1);
  const sequences: number[][] = [];
  for (let i = 0; i < layerTokens.length; i += span) {
    const chunk = layerTokens.slice(i, i + span);
    sequences.push(prefixToken === null ? chunk : [prefixToken, ...chunk]);
  }
  return { kind: 'tokens', sequences };
}

/** Per-layer output errors of the candidate's compressed linears, on the reference's inputs from `feed`. */
async function layerErrors(
  candidate: OpenedModel,
  reference: OpenedModel,
  backend: Backend,
  feed: LinearFeed,
  signal: AbortSignal | undefined,
  onLayer: (done: number, total: number) => void,
): Promise<LayerErrorResult> {
  const order = linearCandidates(reference);
  const missing = [...candidate.replacements.keys()].filter((m) => !order.includes(m));
  if (missing.length > 0) throw new UsageError(`the reference has no linear '${missing[0]}'`);
  // network order (a folder lists its modules in whatever order its file had them)
  const modules = order.filter((m) => candidate.replacements.has(m));
  const structures = new Map(modules.map((m) => [m, candidate.replacements.get(m) as StructuredMatrix]));
  const inputs = await linearInputs(reference, backend, modules, feed);
  const biases = await compressionBiases(candidate, reference, modules);
  const describe =
    feed.kind === 'tokens'
      ? `${feed.sequences.reduce((a, s) => a + s.length, 0)} tokens (${feed.sequences.length} sequences) of the evaluation text`
      : feed.kind === 'images'
        ? `the first ${feed.images.shape[0]} of the classification images`
        : `the first ${feed.inputs.labels.length} of the noise-prediction latents, noised at their timesteps`;
  return linearOutputErrors(inputs, (m) => denseLinear(reference, m), structures, {
    biases,
    backend,
    inputs: `${describe}, through the reference model`,
    onLayer: (d, t) => onLayer(d, t),
    signal,
  });
}

/**
 * The output biases that came with the compression: kept apart (a Llama folder, or a model just compressed),
 * or — GPT-2, ViT and DiT folders fold ROM's bias into the layer's own — the candidate's bias minus the
 * reference's.
 */
async function compressionBiases(
  candidate: OpenedModel,
  reference: OpenedModel,
  modules: readonly string[],
): Promise<Map<string, Tensor>> {
  const out = new Map(candidate.biases);
  if (candidate.architecture === 'llama') return out;
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

/** A labelled-image file: `pixel_values` [N, C, S, S] (normalized as the model expects) and `labels` [N]. */
async function readImages(path: string, m: OpenedModel) {
  const c = m.config as VitModel['config'];
  const file = await openSafetensors(path);
  try {
    const names = file.names();
    if (!names.includes('pixel_values'))
      throw new UsageError(`--images ${path}: no 'pixel_values' tensor (found: ${names.join(', ')})`);
    const pixels = await file.readTensor('pixel_values');
    const s = pixels.shape;
    if (s.length !== 4 || s[1] !== c.numChannels || s[2] !== c.imageSize || s[3] !== c.imageSize)
      throw new UsageError(
        `--images ${path}: pixel_values has shape [${s}], expected [N, ${c.numChannels}, ${c.imageSize}, ${c.imageSize}]`,
      );
    let labels: Int32Array | undefined;
    if (names.includes('labels')) {
      const l = await file.readTensor('labels');
      if (l.size !== s[0]) throw new UsageError(`--images ${path}: ${l.size} labels for ${s[0]} images`);
      labels = Int32Array.from(l.data);
    }
    return {
      pixels: new Tensor([...s], pixels.data),
      labels,
      source: `${path}: ${s[0]} images${labels ? ', labelled' : ' (no labels)'}`,
    };
  } finally {
    await file.close();
  }
}

export function formatEval(r: EvalCommandResult): string {
  const lines: string[] = [`${r.model}${r.reference ? ` against ${r.reference}` : ''} (${r.backend})`];
  if (r.text && r.protocol)
    lines.push(
      `text: ${r.text.source} (window ${r.protocol.window}, stride ${r.protocol.stride}, ${r.protocol.prefixToken === null ? 'no prefix' : `prefix token ${r.protocol.prefixToken}`})`,
    );
  if (r.perplexity)
    lines.push(`perplexity ${r.perplexity.perplexity.toFixed(3)} over ${r.perplexity.tokens} tokens`);
  const c = r.comparison;
  if (c)
    lines.push(
      `  perplexity     reference ${c.reference.perplexity.toFixed(3)}   model ${c.candidate.perplexity.toFixed(3)}`,
      `  KL(ref‖model)  ${c.klDivergence.toFixed(4)} nats/token   top-1 agreement ${(100 * c.top1Agreement).toFixed(1)}%   (${c.tokens} tokens)`,
    );
  for (const rec of r.records) {
    const res = rec.result as Record<string, never>;
    const p = rec.protocol as Record<string, unknown>;
    if (rec.metric === 'classification') {
      const cl = rec.result as unknown as Awaited<ReturnType<typeof classificationMetrics>>;
      lines.push(`classification on ${p.images} images (${p.source}):`);
      if (cl.candidate)
        lines.push(
          `  accuracy       model top-1 ${pct(cl.candidate.top1)}  top-${p.k} ${pct(cl.candidate.topK)}` +
            (cl.reference
              ? `   reference top-1 ${pct(cl.reference.top1)}  top-${p.k} ${pct(cl.reference.topK)}`
              : ''),
        );
      if (cl.agreement)
        lines.push(
          `  agreement      top-1 ${pct(cl.agreement.top1)}  reference's top-1 in model's top-${p.k} ${pct(cl.agreement.topK)}  KL ${cl.agreement.klDivergence.toFixed(4)} nats`,
        );
    } else if (rec.metric === 'noise-prediction') {
      const n = rec.result as unknown as Awaited<ReturnType<typeof noisePredictionError>>;
      lines.push(
        `noise prediction on ${p.samples} latents (${p.source}):`,
        `  ε relative error ${n.epsilon.relativeError.toFixed(4)}  MSE ${n.epsilon.meanSquaredError.toExponential(3)}` +
          (n.variance ? `   variance channels relative error ${n.variance.relativeError.toFixed(4)}` : ''),
        `  denoising loss  reference ${n.denoisingLoss.reference.toFixed(4)}  model ${n.denoisingLoss.candidate.toFixed(4)}`,
        `  by timestep     ${n.byTimestep.map((b) => `[${b.from}, ${b.to}) ${b.relativeError.toFixed(4)}`).join('  ')}`,
      );
    } else if (rec.metric === 'sample-agreement') {
      const s = rec.result as unknown as Awaited<ReturnType<typeof sampleAgreement>>;
      lines.push(
        `samples: ${s.samples} through ${p.sampler} (${p.steps} steps${p.cfgScale === null ? '' : `, cfg ${p.cfgScale}`}, seed ${p.seed}):`,
        `  relative error ${s.relativeError.toFixed(4)}  PSNR ${s.psnr === null ? 'identical' : `${s.psnr.toFixed(2)} dB`} (peak ${s.peak.toFixed(3)}, the reference's range)`,
      );
    } else if (rec.metric === 'layer-output-error') {
      const l = res as unknown as LayerErrorResult;
      lines.push(
        `per-layer output error on ${(rec.protocol as { inputs: string }).inputs}:`,
        `  mean ${l.meanRelativeError.toFixed(4)}  max ${l.maxRelativeError.toFixed(4)} (${l.worstModule})`,
        ...l.layers.map(
          (x) =>
            `  ${x.module.padEnd(48)} ${x.kind.padEnd(14)} ${String(x.rows).padStart(6)} rows  ${x.relativeError.toFixed(4)}`,
        ),
      );
    }
  }
  for (const n of r.notes) lines.push(`(${n})`);
  return lines.join('\n');
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}
