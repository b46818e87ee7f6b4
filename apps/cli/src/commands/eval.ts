import { readFile } from 'node:fs/promises';
import { fetchAsset } from '@blastkit/assets';
import { type Backend, InvalidArgumentError, ShapeError, Tensor } from '@blastkit/core';
import {
  type CausalLmInputs,
  type ComparisonResult,
  type classificationMetrics,
  type EvalContext,
  type EvalRecord,
  evalBudget,
  evalRecord,
  evaluate,
  type LayerErrorResult,
  type noisePredictionError,
  type PerplexityResult,
  type sampleAgreement,
  seededTokens,
  slidingWindows,
  type TaskInputs,
  type WindowProtocol,
} from '@blastkit/eval';
import {
  architectureLabels,
  type DecoderLm,
  generate,
  ModelFormatError,
  ModelInputError,
  type TextTokenizer,
  type VitModel,
} from '@blastkit/models';
import { loadOnnxRuntime, OnnxCausalLm, readOnnxFolder } from '@blastkit/onnx';
import { openSafetensors, SafetensorsError } from '@blastkit/safetensors';
import { backendLine, openCliBackend } from '../backends.js';
import { InterruptedError, UsageError } from '../errors.js';
import { disposeModel, type LoadedModel, loadModel } from '../io/architecture.js';
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
  /** A compute backend (`auto`, `native`, …), or `ort`: `model` is then an exported ONNX folder. */
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

/** `blastkit eval`: the model's metrics, or its comparison with a reference (dense) model. */
export async function runEval(options: EvalCommandOptions): Promise<EvalCommandResult> {
  if (options.backend === 'ort') return runEvalOrt(options);
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

/**
 * `eval --backend ort`: the perplexity of an exported ONNX decoder folder (`blastkit export --onnx`) run by
 * onnxruntime-node, on the same windows `eval` scores on a blastkit backend — quality measured on the deployed
 * artefact itself. `--reference` only samples the in-domain text here (on the blastkit backend `auto`), so the
 * text is the one `eval --text in-domain --reference` scores; KL and agreement need both models on one backend.
 */
async function runEvalOrt(options: EvalCommandOptions): Promise<EvalCommandResult> {
  const info = await readOnnxFolder(options.model).catch((err) => {
    throw new UsageError(
      `--backend ort evaluates a folder written by blastkit export --onnx: ${(err as Error).message}`,
    );
  });
  const decoder = info.decoder;
  if (decoder === undefined)
    throw new UsageError(
      `--backend ort measures the perplexity of ${architectureLabels('causal-lm')} folders; ${options.model} is a ${info.entry.name} model`,
    );
  for (const [flag, given] of [
    ['--images', options.images],
    ['--samples', options.samples],
    ['--layer-inputs', options.layerInputs],
    ['--sampler', options.sampler],
  ] as const)
    if (given !== undefined) throw new UsageError(`${flag}: not with --backend ort (perplexity only)`);
  const text = options.text ?? 'moby-dick';
  if (text === 'in-domain' && options.reference === undefined)
    throw new UsageError(
      '--text in-domain with --backend ort samples the text from --reference (the dense model, on the blastkit backend)',
    );
  const tokenizerPath = options.tokenizer ?? info.tokenizerPath;
  if (tokenizerPath === undefined)
    throw new UsageError(`no tokenizer.json in ${options.model}: perplexity needs one (--tokenizer FILE)`);
  const tokenizer = await loadTokenizer(tokenizerPath);
  const seed = options.seed ?? 0;
  const maxTokens = options.maxTokens ?? 2048;
  // as `evaluate` starts in-domain sampling: the prefix token, else EOS
  const prompt = decoder.prefixToken === null ? [decoder.stopTokens[0] ?? 0] : [decoder.prefixToken];
  let tokens: { source: string; ids: number[] };
  let referenceName: string | undefined;
  if (options.reference !== undefined) {
    const reference = await openModel(options.reference);
    let backend: Backend | undefined;
    try {
      referenceName = reference.description;
      if (reference.entry !== info.entry)
        throw new UsageError(
          `${options.model} is a ${info.entry.name} model, the reference ${reference.description} a ${reference.architecture} one`,
        );
      const answered = await openCliBackend('auto');
      backend = answered.backend;
      const sampler = (await loadModel(reference, backend)) as LoadedModel & DecoderLm<never>;
      tokens = await evaluationTokens(text, tokenizer, maxTokens, sampler, seed, prompt);
      disposeModel(sampler);
    } catch (err) {
      throw asCommandError(err, options.signal);
    } finally {
      await reference.source.close();
      await backend?.close?.();
    }
  }
  // the sampler is only used for in-domain text, refused above without a reference
  else tokens = await evaluationTokens(text, tokenizer, maxTokens, undefined as never, seed, prompt);
  const window = Math.min(options.window ?? 256, decoder.context);
  const protocol: WindowProtocol = {
    window,
    stride: options.stride ?? Math.floor(window / 2),
    prefixToken: decoder.prefixToken,
  };
  const windows = (() => {
    try {
      return slidingWindows(tokens.ids, protocol);
    } catch (err) {
      throw asCommandError(err);
    }
  })();
  const ort = await loadOnnxRuntime();
  options.onBackend?.(
    `backend ort: onnxruntime-node ${ort.env.versions.node} (CPU execution provider), onnx/${info.file}`,
  );
  const lm = await OnnxCausalLm.fromFolder(options.model, { file: info.file });
  let nll = 0;
  let count = 0;
  try {
    for (const [i, w] of windows.entries()) {
      if (options.signal?.aborted) throw new InterruptedError('eval: interrupted');
      const s = await lm.windowNll(w.ids, w.scoredFrom);
      nll += s.nll;
      count += s.count;
      options.onProgress?.('perplexity', i + 1, windows.length);
    }
  } finally {
    await lm.release();
  }
  const result: PerplexityResult = {
    perplexity: Math.exp(nll / count),
    nll: nll / count,
    tokens: count,
    protocol,
  };
  const model = `${options.model} (onnx/${info.file}, ${info.dtype})`;
  const record = evalRecord(
    'perplexity',
    { model, reference: null, method: null, budget: null, backend: 'ort' },
    { ...result, protocol: { ...protocol, text: tokens.source, tokens: tokens.ids.length } },
  );
  return {
    model,
    architecture: info.entry.name,
    backend: 'ort',
    records: [record],
    notes: [
      ...(referenceName
        ? [`--reference ${referenceName}: sampled the in-domain text only (ort measures perplexity)`]
        : []),
      'per-layer output error, KL and agreement: not with --backend ort (the graph has no per-layer hooks)',
    ],
    text: { source: tokens.source, tokens: tokens.ids.length },
    protocol,
    perplexity: result,
  };
}

/** Errors of the user's inputs as usage errors, an abort as an interruption. */
export function asCommandError(err: unknown, signal?: AbortSignal): unknown {
  if (signal?.aborted) return new InterruptedError('eval: interrupted');
  if (
    err instanceof ModelFormatError ||
    err instanceof ModelInputError ||
    err instanceof InvalidArgumentError ||
    err instanceof ShapeError ||
    err instanceof SafetensorsError ||
    err instanceof RangeError
  )
    return new UsageError(err.message);
  return err;
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
  if (reference && reference.entry !== candidate.entry)
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
    budget: evalBudget(
      candidate,
      identity.ratio !== undefined ? identity.ratio : (compression?.ratio ?? null),
    ),
    backend: backendName,
  };
  // options of another task would be ignored silently: say so instead
  const arch = candidate.architecture;
  const task = candidate.entry.task;
  const misplaced = [
    [
      '--images',
      options.images !== undefined && task !== 'image-classification',
      architectureLabels('image-classification', ' and '),
    ],
    ['--text', options.text !== undefined && task !== 'causal-lm', architectureLabels('causal-lm', ' and ')],
    [
      '--sampler, --sample-steps, --sample-images, --cfg-scale',
      [options.sampler, options.sampleSteps, options.sampleImages, options.cfgScale].some(
        (o) => o !== undefined,
      ) && task !== 'diffusion',
      architectureLabels('diffusion', ' and '),
    ],
  ] as const;
  for (const [flag, wrong, which] of misplaced)
    if (wrong) throw new UsageError(`${flag}: for ${which} models; ${candidate.description} is ${arch}`);
  const seed = options.seed ?? 0;
  // what each task is scored on; the refusals name the flags that would have given it
  let inputs: TaskInputs[typeof task];
  if (task === 'causal-lm') inputs = await textInputs(candidate, reference, options, seed);
  else if (task === 'image-classification') {
    const images = options.images ? await readImages(options.images, candidate) : undefined;
    if (images?.labels === undefined && reference === undefined)
      throw new UsageError(
        `nothing to measure: a ${candidate.entry.label} needs labelled --images, or --reference (the dense model) to compare with`,
      );
    inputs = {
      ...(images ? { images } : {}),
      ...(options.samples !== undefined ? { samples: options.samples } : {}),
      ...(options.layerInputs !== undefined ? { layerImages: options.layerInputs } : {}),
    };
  } else {
    if (reference === undefined)
      throw new UsageError(
        `a ${candidate.entry.label} is evaluated against --reference (the dense model): noise-prediction error and sample agreement`,
      );
    inputs = {
      ...(options.samples !== undefined ? { samples: options.samples } : {}),
      ...(options.sampler !== undefined ? { sampler: options.sampler } : {}),
      ...(options.sampleSteps !== undefined ? { sampleSteps: options.sampleSteps } : {}),
      ...(options.sampleImages !== undefined ? { sampleImages: options.sampleImages } : {}),
      ...(options.cfgScale !== undefined ? { cfgScale: options.cfgScale } : {}),
      ...(options.layerInputs !== undefined ? { layerLatents: options.layerInputs } : {}),
    };
  }
  const r = await evaluate(task, candidate, reference, inputs, {
    backend,
    context,
    seed,
    onProgress: options.onProgress,
    signal: options.signal,
  });
  const notes: string[] = [];
  if (reference === undefined) notes.push('per-layer output error: needs --reference');
  else if (candidate.replacements.size === 0)
    notes.push('per-layer output error: the model has no compressed linears');
  return {
    model: candidate.description,
    ...(reference ? { reference: reference.description } : {}),
    architecture: candidate.architecture,
    backend: backendName,
    records: r.records,
    notes,
    ...(r.text ? { text: r.text } : {}),
    ...(r.protocol ? { protocol: r.protocol } : {}),
    ...(r.comparison ? { comparison: r.comparison } : {}),
    ...(r.perplexity ? { perplexity: r.perplexity } : {}),
    ...(r.layers ? { layers: r.layers } : {}),
  };
}

/**
 * The text a language model is scored on: --text (default Moby Dick) through the tokenizer beside the model
 * (or given); without a tokenizer, seeded token ids when there is a reference to compare with.
 */
async function textInputs(
  candidate: OpenedModel,
  reference: OpenedModel | undefined,
  options: Omit<EvalCommandOptions, 'model' | 'reference' | 'backend'>,
  seed: number,
): Promise<CausalLmInputs> {
  const tokenizerPath = options.tokenizer ?? candidate.tokenizerPath ?? reference?.tokenizerPath;
  const maxTokens = options.maxTokens ?? 2048;
  const protocol = {
    ...(options.window !== undefined ? { window: options.window } : {}),
    ...(options.stride !== undefined ? { stride: options.stride } : {}),
    ...(options.layerInputs !== undefined ? { layerTokens: options.layerInputs } : {}),
  };
  if (tokenizerPath) {
    const tokenizer = await loadTokenizer(tokenizerPath);
    return {
      ...protocol,
      text: (sampler, prompt) =>
        evaluationTokens(options.text ?? 'moby-dick', tokenizer, maxTokens, sampler, seed, prompt),
    };
  }
  if (reference) {
    if (options.text !== undefined) throw new UsageError(`--text needs a tokenizer; pass --tokenizer FILE`);
    const vocab = candidate.entry.decoder?.vocabSize(candidate.config) ?? 0;
    return {
      ...protocol,
      text: async () => ({
        source: `seeded: ${maxTokens} token ids uniform over the vocabulary, Rng(${seed}) (no tokenizer)`,
        ids: seededTokens(vocab, maxTokens, seed),
      }),
    };
  }
  throw new UsageError(
    `no tokenizer beside ${candidate.description}: perplexity needs one (--tokenizer FILE); ` +
      'with --reference the models are compared on seeded random tokens instead',
  );
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
