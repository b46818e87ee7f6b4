import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { defaultCacheDir, isAssetName } from '@blastkit/assets';
import { type Backend, InvalidArgumentError } from '@blastkit/core';
import {
  type ComparisonIntervals,
  type ComparisonResult,
  calibrationLayout,
  calibrationSequences,
  compareDecoders,
  type LoadedDecoder,
  planBySensitivity,
  RANKED,
  seededCalibration,
} from '@blastkit/eval';
import { CheckpointMismatchError, DirectoryCheckpointStore } from '@blastkit/factorize/node';
import {
  architectureLabels,
  CALIBRATED_METHODS,
  COMPRESS_METHODS,
  type CompressedModule,
  type CompressMethod,
  compressModel,
  generate,
  type LoadedModel,
  ModelFormatError,
  ModelInputError,
  type TensorSource,
} from '@blastkit/models';
import {
  fillCheckpointsThroughQueue,
  parseQueueUrl,
  QueueConnectionError,
  type QueueProgress,
  QueueUrlError,
} from '@blastkit/queue';
import {
  assertOutputApart,
  discardFolder,
  normalizePath,
  OutputSafetyError,
  outputFolderState,
} from '@blastkit/safetensors';
import { backendLine, openCliBackend } from '../backends.js';
import { InterruptedError, UsageError } from '../errors.js';
import {
  disposeModel,
  isDecoder,
  type LinearFeed,
  linearCandidates,
  linearWeights,
  loadModel,
} from '../io/architecture.js';
import { loadTokenizer, type OpenedModel, openModel } from '../io/model-input.js';
import { readBudgetFile, type SelectionOptions } from '../io/selection.js';
import {
  asCommandError,
  type EvalCommandResult,
  evaluateOpened,
  evaluationTokens,
  formatEval,
} from './eval.js';

export interface CompressCommandOptions extends SelectionOptions {
  model: string;
  method: CompressMethod;
  /** Kept fraction of each selected linear's parameters (not needed with --budget). */
  ratio?: number;
  blocks?: number;
  steps?: number;
  seed?: number;
  backend?: string;
  /** Per-module ranks from a plan file (`inspect --dry-run --json`); decides which modules are compressed. */
  budget?: string;
  /**
   * Allocate ranks across modules to meet `ratio` overall with the least predicted error: by the weights' error
   * curves (`true` or 'curves'), or by measured output sensitivity ('sensitivity': KL to the dense model on
   * calibration text with each module alone compressed, decoders; a planning pass that costs one compression).
   */
  allocate?: boolean | 'curves' | 'sensitivity';
  /** Per-module ratio overrides by suffix (PEFT's rank_pattern, as ratios), e.g. { down_proj: 0.3 }. */
  ratioPattern?: Record<string, number>;
  /**
   * Output folder: absent, empty or written by blastkit (it is replaced whole); never the input, inside it or
   * around it.
   */
  out: string;
  /**
   * Continue from the checkpoints an interrupted run left in `<out>.checkpoints`, after checking that they
   * belong to this run (same input weights and settings).
   */
  resume?: boolean;
  /**
   * Calibration inputs for blast-data and rom: a .txt file, 'moby-dick' or 'in-domain' (sampled from the model)
   * for decoders with a tokenizer; 'random' (seeded inputs: token ids, N(0, 1) images, DiT noise-prediction
   * latents) for every architecture.
   */
  calibration?: string;
  /** Calibration tokens (default 512, in sequences of at most 128); ViT images / DiT latents (default 8). */
  calibrationTokens?: number;
  /**
   * Sequential calibration (Llama): each block's calibration inputs come from the model with the blocks before
   * it already compressed, as ROM does (default: every block sees the dense model's inputs).
   */
  sequential?: boolean;
  /** blast-data: 'full' (default) or 'block-diagonal' input covariance. */
  covariance?: 'full' | 'block-diagonal';
  /**
   * Also compare the result with the dense model: Llama on in-domain text sampled from it and on Moby Dick;
   * the other architectures as `eval --reference` does (seeded inputs where there is no data).
   */
  compare?: boolean;
  onModule?: (e: CompressedModule & { index: number; total: number }) => void;
  /** Which backend answered, in one line (for `auto`, also why the ones before it did not). */
  onBackend?: (line: string) => void;
  onStep?: (module: string, step: number, total: number) => void;
  signal?: AbortSignal;
  /**
   * `redis://[user:password@]host[:port][/db]` or `rediss://…`: one job per selected matrix on this queue,
   * factorized by `blastkit worker` processes; the folder is then assembled here from their checkpoints.
   */
  queue?: string;
  /**
   * With `queue`: the run's checkpoint folder, shared by every worker at the same absolute path (default
   * `<out>.checkpoints`); absent, or one this run left (with --resume); removed once the folder is written.
   */
  store?: string;
  /** With `queue`: each job queued, taken by a worker, done (hash checked), found in the store or redone. */
  onQueue?: (event: QueueProgress) => void;
  /** With `queue`: connection trouble during the run (Redis restarting…), password hidden; the run waits. */
  onQueueWarning?: (message: string) => void;
}

/** Options that cannot be split into one job per matrix, with why: refused with --queue. */
const NOT_QUEUEABLE: [keyof CompressCommandOptions, string][] = [
  ['sequential', "each block's calibration inputs come from the blocks before it, compressed"],
];

export interface CompressCommandResult {
  model: string;
  architecture: OpenedModel['architecture'];
  method: CompressMethod;
  /** The requested ratio (null with a budget file; see linearParameters.ratio for the result). */
  ratio: number | null;
  /** A budget file's ranks decided the modules ('per-module ranks'). */
  budget?: string;
  /** How --allocate spread the ratio over the modules, in words (as compression_config records it). */
  allocation?: string;
  blocks: number | null;
  seed: number;
  backend: string;
  out: string;
  modules: CompressedModule[];
  linearParameters: { dense: number; compressed: number; ratio: number };
  meanRelativeError: number;
  seconds: number;
  resumedModules: number;
  /** With --compare: the compressed model against the dense one on each evaluation text. */
  comparison?: {
    /** Each text's figures, with 95% bootstrap intervals over its windows. */
    texts: (ComparisonResult & { text: string; intervals: ComparisonIntervals })[];
    prompt: string;
    denseContinuation: string;
    /** Greedy decode speed of the two continuations on the run's backend (tokens after the first, per second). */
    decodeTokensPerSecond: { dense: number; compressed: number };
    compressedContinuation: string;
  };
  /** With --compare on GPT-2, ViT or DiT: what `eval <out> --reference <model>` reports, records included. */
  evaluation?: EvalCommandResult;
  /** With --queue: the queued half of the run (the URL with its password hidden). */
  queue?: {
    url: string;
    store: string;
    /** Jobs added (a restarted coordinator adds none for jobs already queued). */
    queued: number;
    /** Matrices already in the store before any job. */
    fromStore: number;
    /** Results redone because their content hash did not match their worker's. */
    redone: number;
    /** Matrices finished by each worker. */
    workers: Record<string, number>;
    seconds: number;
  };
}

/** The prompt the comparison starts from, and how its in-domain text is sampled. */
const COMPARE_PROMPT = 'Once upon a time';
const COMPARE_TOKENS = 1024;
/** Tokens of each timed greedy continuation of --compare (Llama). */
const COMPARE_CONTINUATION_TOKENS = 160;

/** `blastkit compress`: replace a model's linears by structured matrices and save the result as a folder. */
export async function runCompress(options: CompressCommandOptions): Promise<CompressCommandResult> {
  if (!COMPRESS_METHODS.includes(options.method))
    throw new UsageError(
      `--method: unknown method '${options.method}' (one of ${COMPRESS_METHODS.join(', ')})`,
    );
  // 'out/m/' and 'out/m' are one folder: its checkpoints are 'out/m.checkpoints', never inside it
  const out = normalizePath(options.out);
  const queueDisplay = queueOptionsChecked(options);
  // workers elsewhere find the store at the same absolute path
  const checkpoints =
    queueDisplay === undefined ? `${out}.checkpoints` : resolve(options.store ?? `${out}.checkpoints`);
  const inputs = inputPaths(options.model, [options.calibration, options.budget]);
  try {
    assertOutputApart(options.out, inputs);
    assertOutputApart(checkpoints, inputs, 'the checkpoint folder');
    await outputFolderState(out);
  } catch (err) {
    if (err instanceof OutputSafetyError) throw new UsageError(err.message);
    throw err;
  }
  if (options.store !== undefined) assertCheckpointFolder(checkpoints, out);
  if (existsSync(checkpoints) && !options.resume)
    throw new UsageError(
      `${checkpoints} holds an interrupted run: pass --resume to continue it, or delete it to start over`,
    );
  const opened = await openModel(options.model);
  let store: DirectoryCheckpointStore | undefined;
  const seed = options.seed ?? 0;
  let backendName = options.backend ?? 'auto';
  let backend: Backend | undefined;
  let fingerprint: Record<string, unknown> | undefined;
  let queued: CompressCommandResult['queue'];
  try {
    const answered = await openCliBackend(backendName);
    backend = answered.backend;
    // what answered goes into the fingerprint and the report: `auto` on another machine may pick another
    backendName = answered.description.name;
    options.onBackend?.(backendLine(answered));
    if (opened.replacements.size > 0) throw new UsageError(`${opened.description} is already compressed`);
    let ranks: Map<string, number> | undefined;
    if ((options.ratio === undefined) === (options.budget === undefined))
      throw new UsageError('give exactly one of --ratio and --budget');
    const ratio = options.ratio ?? 1; // with a budget file every module's rank comes from the file
    if (options.budget !== undefined && options.allocate)
      throw new UsageError('give --budget or --allocate, not both');
    if (options.budget !== undefined) {
      ranks = await readBudgetFile(options.budget);
      // the budget file decides which modules are compressed
      const all = linearCandidates(opened);
      const unknown = [...ranks.keys()].filter((m) => !all.includes(m));
      if (unknown.length > 0)
        throw new UsageError(`--budget: no linear '${unknown[0]}' in ${opened.description}`);
    }
    if (options.sequential && !CALIBRATED_METHODS.includes(options.method))
      throw new UsageError(
        `--sequential: ${options.method} uses no calibration (one of ${CALIBRATED_METHODS.join(', ')})`,
      );
    if (options.sequential && !opened.entry.sequentialCalibration)
      throw new UsageError(
        `--sequential: only ${architectureLabels((a) => a.sequentialCalibration === true)} models for now, not ${opened.architecture}`,
      );
    if (CALIBRATED_METHODS.includes(options.method) && options.calibration === undefined)
      throw new UsageError(
        `--method ${options.method} needs --calibration (${isDecoder(opened) ? "a .txt file, 'moby-dick', 'in-domain' or 'random'" : "'random': seeded inputs"})`,
      );
    const start = performance.now();
    const calibration = options.calibration
      ? await calibrationFeed(opened, backend, options.calibration, options.calibrationTokens, seed)
      : undefined;
    const blocks =
      options.method === 'lowrank' || options.method === 'svd-llm' || options.method === 'block-diag'
        ? null
        : (options.blocks ?? 16);
    const selection = {
      targetModules: options.targetModules,
      excludeModules: options.excludeModules,
      layersToTransform: options.layers,
    };
    let allocation = options.allocate ? 'tail-energy curves' : undefined;
    if (options.allocate === 'sensitivity') {
      if (!isDecoder(opened))
        throw new UsageError(
          `--allocate sensitivity: decoders only (next-token KL), not ${opened.architecture}`,
        );
      if (!RANKED.has(options.method))
        throw new UsageError(
          `--allocate sensitivity: --method one of ${[...RANKED].join(', ')} (a rank per module), not ${options.method}`,
        );
      if (!calibration)
        throw new UsageError('--allocate sensitivity needs --calibration (the text the KL is measured on)');
      const planned = await planBySensitivity(opened, {
        method: options.method,
        ratio,
        backend,
        feed: calibration.feed,
        selection,
        ...(options.blocks === undefined ? {} : { blocks: options.blocks }),
        ...(options.steps === undefined ? {} : { steps: options.steps }),
        seed,
        ...(options.covariance ? { covariance: options.covariance } : {}),
      });
      ranks = planned.ranks;
      allocation = `measured sensitivity (KL to the dense model on ${planned.probe.sequences} calibration sequences, ${planned.probe.tokens} tokens, each module alone at its nearest rank; ${planned.plan.how})`;
    }
    const info = {
      method: options.method,
      ratio: options.ratio ?? null,
      ...(options.budget ? { budget: 'per-module ranks' } : {}),
      ...(allocation ? { allocation } : {}),
      blocks,
      ...(options.method === 'blast-data' ? { covariance: options.covariance ?? 'full' } : {}),
      seed,
      source_model: opened.description,
      ...(calibration ? { calibration: calibration.source } : {}),
      ...(options.sequential ? { calibration_order: 'sequential' } : {}),
      ...(options.ratioPattern ? { ratio_pattern: options.ratioPattern } : {}),
    };
    // the tokenizer goes into the folder before it appears: the folder is whole or absent
    const folder = {
      command: 'compress',
      inputs,
      ...(opened.tokenizerPath ? { copy: [opened.tokenizerPath] } : {}),
    };
    const answeredBackend = backend;
    // select → plan → calibrate → factorize with checkpoints → save (ROM's biases as the architecture keeps them)
    const {
      replacements,
      biases,
      modules: report,
    } = await compressModel(opened, {
      method: options.method,
      ratio,
      ratioPattern: options.ratioPattern,
      selection,
      ranks,
      allocate: options.allocate === true || options.allocate === 'curves',
      blocks: options.blocks,
      steps: options.steps,
      seed,
      backend,
      signal: options.signal,
      onMatrix: options.onModule,
      onStep: options.onStep,
      covariance: options.covariance,
      sequential: options.sequential,
      ...(calibration
        ? {
            calibration: calibration.feed,
            ...(calibration.model ? { calibrationModel: calibration.model } : {}),
          }
        : {}),
      // everything that determines the factors: resuming from another run's checkpoints is refused
      checkpoints: async (run) => {
        fingerprint = {
          weights: await weightsDigest(opened.source),
          method: options.method,
          ratio: options.ratio ?? null,
          ranks: run.ranks ? Object.fromEntries(run.ranks) : null,
          ratioPattern: options.ratioPattern ?? null,
          blocks: options.blocks ?? null,
          steps: options.steps ?? null,
          ...(options.covariance ? { covariance: options.covariance } : {}),
          ...(options.sequential ? { sequential: true } : {}),
          seed,
          backend: answeredBackend.describe(),
          modules: run.modules,
          calibration:
            options.calibration === undefined
              ? null
              : {
                  spec: options.calibration,
                  file: isFile(options.calibration) ? await fileDigest(options.calibration) : null,
                  tokens: options.calibrationTokens ?? null,
                },
        };
        store = await DirectoryCheckpointStore.open(checkpoints, { fingerprint });
        return store;
      },
      save: { out, info, folder },
      // the queued half: every matrix is factorized by the workers into the store, which the factorizing step
      // then resumes from (the same bytes as a run on this machine)
      ...(options.queue && queueDisplay
        ? {
            beforeFactorize: async ({ jobs, calibration: inputs }) => {
              const url = options.queue as string;
              const workers: Record<string, number> = {};
              const ranks = new Map(
                jobs.filter((j) => j.rank !== undefined).map((j) => [j.module, j.rank as number]),
              );
              const r = await fillCheckpointsThroughQueue({
                url,
                store: checkpoints,
                fingerprint: fingerprint as Record<string, unknown>,
                model: modelForWorkers(options.model),
                weights: linearWeights(opened),
                modules: jobs.map((j) => j.module),
                method: options.method,
                ratio,
                ...(options.ratioPattern ? { ratioPattern: options.ratioPattern } : {}),
                ...(ranks.size > 0 ? { ranks } : {}),
                ...(options.blocks !== undefined ? { blocks: options.blocks } : {}),
                ...(options.steps !== undefined ? { steps: options.steps } : {}),
                seed,
                ...(options.covariance ? { covariance: options.covariance } : {}),
                backend: backendName,
                ...(inputs ? { calibration: inputs } : {}),
                ...(options.signal ? { signal: options.signal } : {}),
                ...(options.onQueueWarning ? { onWarning: options.onQueueWarning } : {}),
                onProgress: (e) => {
                  if (e.state === 'done' && e.worker) workers[e.worker] = (workers[e.worker] ?? 0) + 1;
                  options.onQueue?.(e);
                },
              });
              queued = {
                url: queueDisplay,
                store: checkpoints,
                queued: r.queued,
                fromStore: r.fromStore,
                redone: r.redone,
                workers,
                seconds: r.seconds,
              };
            },
          }
        : {}),
    });
    const seconds = (performance.now() - start) / 1000;
    await discardFolder(checkpoints);
    const dense = report.reduce((a, m) => a + m.denseParameters, 0);
    const compressed = report.reduce((a, m) => a + m.parameters, 0);
    const result: CompressCommandResult = {
      model: opened.description,
      architecture: opened.architecture,
      method: options.method,
      ratio: options.ratio ?? null,
      ...(options.budget ? { budget: 'per-module ranks' } : {}),
      ...(allocation ? { allocation } : {}),
      blocks,
      seed,
      backend: backendName,
      out,
      modules: report,
      linearParameters: { dense, compressed, ratio: compressed / dense },
      meanRelativeError: report.reduce((a, m) => a + m.relativeError, 0) / report.length,
      seconds,
      resumedModules: report.filter((m) => m.resumed).length,
      ...(queued ? { queue: queued } : {}),
    };
    const decoder = opened.entry.decoder;
    if (options.compare && !decoder?.compareOnText) {
      const candidate = { ...opened, replacements, biases, description: `${out} (just compressed)` };
      const r = await evaluateOpened(
        candidate,
        opened,
        backend,
        backendName,
        { seed, signal: options.signal },
        { method: options.method, ratio: options.ratio ?? null },
      );
      result.evaluation = r;
    } else if (options.compare && decoder) {
      if (!opened.tokenizerPath)
        throw new UsageError(
          '--compare needs a tokenizer (tokenizer.bin or tokenizer.json) beside the model',
        );
      const tokenizer = await loadTokenizer(opened.tokenizerPath);
      const denseLoaded = await loadModel(opened, backend);
      const smallLoaded = await loadModel(opened, backend, { replacements, biases });
      const prefixToken = decoder.prefixToken(opened.config);
      const prompt = tokenizer.encode(COMPARE_PROMPT, { bos: decoder.promptBos });
      const window = Math.min(256, decoder.context(opened.config));
      const c = await compareDecoders(denseLoaded as LoadedDecoder, smallLoaded as LoadedDecoder, {
        texts: ['in-domain', 'moby-dick'].map(
          (spec) => (dense: LoadedDecoder) =>
            evaluationTokens(spec, tokenizer, COMPARE_TOKENS, dense, seed, [
              prefixToken ?? dense.config.eosTokenId ?? 0,
            ]),
        ),
        // half-window stride: a fixed 128 would exceed the window of a model with a short context
        protocol: { window, stride: Math.floor(window / 2), prefixToken },
        prompt,
        continuationTokens: COMPARE_CONTINUATION_TOKENS,
        seed,
      });
      const { dense, compressed } = c.continuations;
      result.comparison = {
        texts: c.texts,
        prompt: COMPARE_PROMPT,
        denseContinuation: tokenizer.decode([...prompt, ...dense.tokens]),
        compressedContinuation: tokenizer.decode([...prompt, ...compressed.tokens]),
        decodeTokensPerSecond: { dense: dense.tokensPerSecond, compressed: compressed.tokensPerSecond },
      };
      disposeModel(denseLoaded);
      disposeModel(smallLoaded);
    }
    return result;
  } catch (err) {
    // a run that failed before finishing any module leaves nothing to resume (a queued one may: its jobs are
    // still queued, and their workers write into the store)
    if (store && !options.queue && (await store.names().catch(() => ['?'])).length === 0)
      await discardFolder(checkpoints).catch(() => {});
    if (options.signal?.aborted)
      throw new InterruptedError(
        `compress: interrupted; finished modules are kept in ${checkpoints} (use --resume)`,
      );
    if (
      err instanceof InvalidArgumentError ||
      err instanceof ModelFormatError ||
      err instanceof ModelInputError ||
      err instanceof OutputSafetyError ||
      err instanceof CheckpointMismatchError ||
      err instanceof QueueConnectionError
    )
      throw new UsageError(err instanceof CheckpointMismatchError ? `--resume: ${err.message}` : err.message);
    throw asCommandError(err);
  } finally {
    await opened.source.close();
    await backend?.close?.();
  }
}

/**
 * Checks the queue options before anything is opened: a URL that parses, and nothing that cannot be split
 * into one job per matrix. Returns the URL with its password hidden (undefined without --queue).
 */
function queueOptionsChecked(options: CompressCommandOptions): string | undefined {
  if (options.queue === undefined) {
    if (options.store !== undefined)
      throw new UsageError('--store: only with --queue (the folder the workers share)');
    return undefined;
  }
  for (const [flag, why] of NOT_QUEUEABLE)
    if (options[flag])
      throw new UsageError(
        `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} cannot be used with --queue: ${why}, so its matrices cannot be factorized apart`,
      );
  try {
    return parseQueueUrl(options.queue).display;
  } catch (err) {
    if (err instanceof QueueUrlError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * A `--store` folder is removed once the compressed folder is written: it must be absent, empty, or a
 * checkpoint folder (holding its run.json), never a shared folder with other files in it.
 */
function assertCheckpointFolder(dir: string, out: string): void {
  const inside = (a: string, b: string) => {
    const r = relative(resolve(b), a);
    return r === '' || !(r.startsWith('..') || isAbsolute(r));
  };
  // the output folder is replaced whole when it is written: the store may neither be in it nor hold it
  if (inside(dir, out) || inside(resolve(out), dir))
    throw new UsageError(`--store ${dir}: must lie apart from --out ${out}`);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  // the run removes the store when it finishes: only a folder a run made (its run.json) may be reused
  if (!names.includes('run.json'))
    throw new UsageError(
      names.length > 0
        ? `--store ${dir}: holds files and is not a checkpoint folder; name a new folder inside the shared one (it is removed when the run finishes)`
        : `--store ${dir}: an empty folder no run made; name a new folder inside the shared one (it is removed when the run finishes)`,
    );
}

/** The model as workers on other machines open it: an asset by name (each fetches it), else an absolute path. */
function modelForWorkers(model: string): string {
  return isAssetName(model) && !existsSync(model) ? model : resolve(model);
}

/**
 * The paths a run reads (the model argument — an asset's cache folder for an asset name — and the given
 * files), which no output may be, contain or lie inside.
 */
export function inputPaths(model: string, files: (string | undefined)[] = []): string[] {
  const paths = isAssetName(model) && !existsSync(model) ? [join(defaultCacheDir(), model)] : [model];
  for (const f of files) if (f !== undefined && existsSync(f)) paths.push(f);
  return paths;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** SHA-256 of a file's bytes. */
export async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * A digest of a model's weights: every tensor's name, shape and values (one tensor in memory at a time), so a
 * resumed run can tell that its checkpoints were made from these very weights.
 */
export async function weightsDigest(source: TensorSource): Promise<string> {
  const hash = createHash('sha256');
  for (const name of [...source.names()].sort()) {
    const t = await source.readTensor(name);
    hash.update(`${name}\0${t.shape.join(',')}\0`);
    hash.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return hash.digest('hex');
}

/**
 * The calibration data the selected linears' inputs are taken from. Decoders: text cut into sequences of at
 * most 128 tokens (BOS first where the architecture's prompts have it); 'in-domain' samples them from the
 * model, one seed each; 'random' draws token ids. Classifiers / diffusion models: 'random' only — seeded
 * N(0, 1) images, or DiT noise-prediction latents (there is no image data here; a data-free calibration,
 * labelled as such). A dense copy loaded to sample or read the text comes back too: the inputs are taken on it.
 */
async function calibrationFeed(
  opened: OpenedModel,
  backend: Backend,
  spec: string,
  count: number | undefined,
  seed: number,
): Promise<{ feed: LinearFeed; source: string; model?: LoadedModel }> {
  if (opened.entry.task !== 'causal-lm' && spec !== 'random')
    throw new UsageError(
      `--calibration for a ${opened.architecture} model: only 'random' (seeded inputs) is supported`,
    );
  if (spec === 'random') return seededCalibration(opened, count, seed);
  const tokens = count ?? 512;
  const { prefix, length } = calibrationLayout(opened);
  const sequences: number[][] = [];
  if (!opened.tokenizerPath)
    throw new UsageError(
      `--calibration ${spec} needs a tokenizer beside the model (or use --calibration random)`,
    );
  const tokenizer = await loadTokenizer(opened.tokenizerPath);
  const dense = await loadModel(opened, backend);
  const lm = dense as LoadedDecoder;
  try {
    let source: string;
    if (spec === 'in-domain') {
      const start = prefix.length > 0 ? prefix : [lm.config.eosTokenId ?? 0];
      for (let i = 0; sequences.length * length < tokens; i++) {
        const ids = await generate(lm, start, {
          maxTokens: length,
          temperature: 1,
          topP: 0.9,
          seed: seed + 1000 + i,
          stopToken: -1,
        });
        sequences.push([...prefix, ...ids]);
      }
      source = `in-domain: ${sequences.length} sequences of ${length} tokens sampled from the dense model (seeds ${seed + 1000}…)`;
    } else {
      const text = await evaluationTokens(spec, tokenizer, tokens, lm, seed);
      sequences.push(...calibrationSequences(opened, text.ids));
      source = text.source;
    }
    // the model that sampled the text also gives the inputs: one copy in memory
    return { feed: { kind: 'tokens', sequences }, source, model: dense };
  } catch (err) {
    disposeModel(dense);
    throw err;
  }
}

/** The human-readable report. */
export function formatCompress(r: CompressCommandResult): string {
  const lines = [
    `${r.model} → ${r.out}`,
    `${r.architecture}: method ${r.method}, ratio ${r.ratio}${r.blocks ? `, ${r.blocks} blocks` : ''}, seed ${r.seed}, backend ${r.backend}`,
    '',
    `${'module'.padEnd(36)} ${'shape'.padEnd(9)} ${'rank'.padStart(5)} ${'params'.padStart(8)} ${'rel.err'.padStart(8)}`,
    ...r.modules.map(
      (m) =>
        `${m.name.padEnd(36)} ${m.shape.join('×').padEnd(9)} ${String(m.rank ?? '-').padStart(5)} ${String(m.parameters).padStart(8)} ${m.relativeError.toFixed(4).padStart(8)}${m.resumed ? '  (resumed)' : ''}`,
    ),
    '',
    `compressed linears: ${r.linearParameters.compressed} of ${r.linearParameters.dense} parameters (${(100 * r.linearParameters.ratio).toFixed(1)}%), mean relative error ${r.meanRelativeError.toFixed(4)}, ${r.seconds.toFixed(1)} s`,
  ];
  if (r.evaluation) lines.push('', 'against the dense model:', formatEval(r.evaluation));
  const c = r.comparison;
  if (c) {
    lines.push(
      '',
      'against the dense model (sliding windows of min(256, context), half-window stride, BOS prefix):',
    );
    for (const t of c.texts)
      lines.push(
        `  ${t.text}`,
        `    perplexity dense ${t.reference.perplexity.toFixed(3)}, compressed ${t.candidate.perplexity.toFixed(3)}; KL ${t.klDivergence.toFixed(4)} nats/token; top-1 agreement ${(100 * t.top1Agreement).toFixed(1)}%`,
      );
    const speed = c.decodeTokensPerSecond;
    lines.push(
      `  greedy, dense (${speed.dense.toFixed(1)} tokens/s):`,
      `    ${JSON.stringify(c.denseContinuation)}`,
      `  greedy, compressed (${speed.compressed.toFixed(1)} tokens/s, ${(speed.compressed / speed.dense).toFixed(2)}× the dense model's, backend ${r.backend}):`,
      `    ${JSON.stringify(c.compressedContinuation)}`,
    );
  }
  return lines.join('\n');
}
