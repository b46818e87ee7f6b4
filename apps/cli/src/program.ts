import { ARCHITECTURES, architectureLabels, COMPRESS_METHODS } from '@blastkit/models';
import { BLAST_MIXINGS, type BlastMixing, WEIGHT_DTYPES, type WeightDtype } from '@blastkit/onnx';
import { Command, InvalidArgumentError, Option } from 'commander';
import { formatBenchList, formatBenchResult, runBench, runBenchList } from './commands/bench.js';
import { type CompressCommandOptions, formatCompress, runCompress } from './commands/compress.js';
import { formatDoctor, runDoctor } from './commands/doctor.js';
import { formatEval, runEval } from './commands/eval.js';
import { runExport } from './commands/export.js';
import {
  FACTORIZE_METHODS,
  type FactorizeCommandOptions,
  formatFactorize,
  runFactorize,
} from './commands/factorize.js';
import { runFetch } from './commands/fetch.js';
import { runGenerate } from './commands/generate.js';
import { type DryRunOptions, formatInspect, runInspect } from './commands/inspect.js';
import { registerRetrain } from './commands/retrain.js';
import { formatWorker, formatWorkerEvent, runWorker } from './commands/worker.js';
import { formatDemo, runDemo } from './demo.js';
import { ProgressLine } from './progress.js';

/** Every registered architecture, for the help of the commands that take any model. */
const EVERY_ARCHITECTURE = ARCHITECTURES.map((a) => a.label).join(', ');

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new InvalidArgumentError(`expected a positive integer, got '${value}'`);
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`expected a non-negative integer, got '${value}'`);
  return n;
}

function nonNegative(value: string): number {
  const x = Number(value);
  if (!(x >= 0)) throw new InvalidArgumentError(`expected a number ≥ 0, got '${value}'`);
  return x;
}

/** 'a,b' → suffix list; '/re/' → RegExp; 'all-linear' as is. */
function moduleRule(value: string): string[] | RegExp | 'all-linear' {
  if (value === 'all-linear') return value;
  if (value.length > 2 && value.startsWith('/') && value.endsWith('/')) {
    try {
      return new RegExp(value.slice(1, -1));
    } catch (err) {
      throw new InvalidArgumentError(`bad regular expression ${value}: ${(err as Error).message}`);
    }
  }
  return value.split(',').filter(Boolean);
}

function ratioPattern(value: string): Record<string, number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError(`expected a JSON object like '{"down_proj":0.3}', got '${value}'`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new InvalidArgumentError('expected a JSON object of ratios');
  for (const [k, v] of Object.entries(parsed))
    if (typeof v !== 'number' || !(v > 0 && v <= 1))
      throw new InvalidArgumentError(`ratio for '${k}' must be in (0, 1]`);
  return parsed as Record<string, number>;
}

function ratio(value: string): number {
  const x = Number(value);
  if (!(x > 0 && x <= 1)) throw new InvalidArgumentError(`expected a ratio in (0, 1], got '${value}'`);
  return x;
}

export interface ProgramIo {
  /** stdout: results (one JSON object with --json). */
  out: (s: string) => void;
  /** stderr: progress. */
  err?: (s: string) => void;
  /** Whether stderr is a terminal (progress redrawn in place); default: process.stderr.isTTY. */
  tty?: boolean;
}

/**
 * Runs `fn` with an AbortSignal that Ctrl-C (SIGINT) trips: the work stops at its next check, and since every
 * output is written atomically at the end, nothing half-written is left behind.
 */
async function interruptible<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  try {
    return await fn(controller.signal);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

/**
 * Progress of a queued compress run on stderr: matrices done across all workers, who did the last one, and
 * each worker's share; connection trouble (password hidden) on lines of its own.
 */
function queueProgress(
  err: (s: string) => void,
  tty: boolean | undefined,
): Pick<CompressCommandOptions, 'onQueue' | 'onQueueWarning'> {
  const progress = new ProgressLine('queue', err, tty);
  const byWorker = new Map<string, number>();
  return {
    onQueue: (e) => {
      if (e.state === 'done' && e.worker) byWorker.set(e.worker, (byWorker.get(e.worker) ?? 0) + 1);
      if (e.state === 'queued' || e.state === 'running') return;
      const shares = [...byWorker].map(([w, n]) => `${w} ${n}`).join(', ');
      const last = e.state === 'redo' ? `${e.module} redone (hash mismatch)` : e.module;
      progress.update(e.done, e.total, `${last}${shares ? ` | ${shares}` : ''}`);
      if (e.done === e.total) progress.finish();
    },
    onQueueWarning: (message) => err(`queue: ${message}\n`),
  };
}

/** Builds the `blastkit` command tree; `io` lets tests capture output. */
export function buildProgram(io: ProgramIo = { out: (s) => process.stdout.write(s) }): Command {
  const err = io.err ?? ((s: string) => process.stderr.write(s));
  const program = new Command('blastkit')
    .description('Compress transformer models with BLAST and other structured matrices.')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('demo')
    .description(
      'Compress a synthetic matrix to a parameter budget and print the error and parameter counts.',
    )
    .option('--rows <m>', 'rows of the matrix', positiveInt, 768)
    .option('--cols <n>', 'columns of the matrix', positiveInt, 288)
    .option('--ratio <x>', 'fraction of the dense parameters to keep', ratio, 0.5)
    .option('--seed <s>', 'random seed', positiveInt, 1)
    .option('--json', 'print one JSON object instead of the table')
    .action((opts: { rows: number; cols: number; ratio: number; seed: number; json?: boolean }) => {
      const result = runDemo(opts);
      io.out(opts.json ? `${JSON.stringify(result)}\n` : `${formatDemo(result)}\n`);
    });

  program
    .command('factorize')
    .description('Factorize one dense matrix into a structured matrix and write its factors (safetensors).')
    .requiredOption(
      '--input <file>',
      'A.npy (f32/f64, C order), model.safetensors:<tensor>, or a one-matrix .safetensors',
    )
    .addOption(new Option('--method <m>', 'factorization method').choices(FACTORIZE_METHODS).default('blast'))
    .option('--rank <r>', 'rank (BLAST, low-rank) or per-block rank (Monarch)', positiveInt)
    .option('--ratio <x>', 'fraction of the dense parameters to keep; picks the rank', ratio)
    .addOption(
      new Option(
        '--rank-rule <rule>',
        "how --ratio picks the rank: 'budget' (largest that fits) or the reference's rule",
      )
        .choices(['budget', 'reference'])
        .default('budget'),
    )
    .option('--blocks <b>', 'number of blocks per side (BLAST, Monarch, block-diag; default 16)', positiveInt)
    .option(
      '--steps <t>',
      'iterations (BLAST methods; default 300 for blast-precgd, 100 for blast)',
      positiveInt,
    )
    .option('--seed <s>', 'random seed', nonNegativeInt, 0)
    .option(
      '--backend <name>',
      'compute backend: auto (native if it loads, else cpu), native, cpu, webgpu, tfjs[:engine], cuda',
      'auto',
    )
    .option('--calibration <file>', 'blast-data: layer inputs, one per row ([N, n]; .npy or .safetensors)')
    .requiredOption('--out <file>', 'where to write the factors (.safetensors, written atomically)')
    .option('--json', 'print one JSON object instead of the table')
    .option('--quiet', 'no progress on stderr')
    .action(
      async (
        opts: Omit<FactorizeCommandOptions, 'onProgress' | 'signal'> & { json?: boolean; quiet?: boolean },
      ) => {
        const progress = opts.quiet ? undefined : new ProgressLine('factorize', err, io.tty);
        const result = await interruptible((signal) =>
          runFactorize({
            ...opts,
            signal,
            onProgress:
              progress &&
              ((p) => progress.update(p.step, p.totalSteps, `rel. error ${p.relativeError.toFixed(4)}`)),
          }).finally(() => progress?.finish()),
        );
        io.out(opts.json ? `${JSON.stringify(result)}\n` : `${formatFactorize(result)}\n`);
      },
    );

  program
    .command('fetch')
    .description(
      'Fetch an asset (stories15M, moby-dick, llama2-tokenizer-json) into the cache, checking its pinned hashes.',
    )
    .argument('<asset>', 'asset name')
    .option('--json', 'print one JSON object')
    .action(async (asset: string, opts: { json?: boolean }) => {
      const r = await runFetch(asset, (m) => err(`${m}\n`));
      io.out(
        opts.json
          ? `${JSON.stringify(r)}\n`
          : `${Object.entries(r.files)
              .map(([f, p]) => `${f}  ${p}`)
              .join('\n')}\n`,
      );
    });

  program
    .command('inspect')
    .description('List the tensors (names, dtypes, shapes, parameters) of a safetensors/npy file or a model.')
    .argument(
      '<file|dir>',
      `a .safetensors or .npy file, a llama2.c .bin, a model folder (${EVERY_ARCHITECTURE}), or an asset name`,
    )
    .option(
      '--dry-run',
      'print the compression plan per layer (with --method, --ratio) instead of the tensors',
    )
    .addOption(
      new Option('--method <m>', 'structure for --dry-run').choices(COMPRESS_METHODS).default('blast'),
    )
    .option('--ratio <x>', 'kept fraction of the parameters, for --dry-run', ratio)
    .option('--blocks <b>', 'blocks per side for --dry-run (default 16)', positiveInt)
    .option(
      '--allocate',
      'spread the budget over layers by their error curves (default: same ratio everywhere)',
    )
    .option('--target-modules <list>', 'as for compress', moduleRule)
    .option('--exclude-modules <list>', 'as for compress', moduleRule)
    .option('--layers <list>', 'as for compress', (v) => v.split(',').map(nonNegativeInt))
    .option('--json', 'print one JSON object (with --dry-run, usable as compress --budget)')
    .action(async (path: string, opts: { json?: boolean; dryRun?: boolean } & Partial<DryRunOptions>) => {
      if (opts.dryRun && opts.ratio === undefined) throw new InvalidArgumentError('--dry-run needs --ratio');
      const r = await runInspect(
        path,
        opts.dryRun ? ({ ...opts, ratio: opts.ratio } as DryRunOptions) : undefined,
      );
      io.out(opts.json ? `${JSON.stringify(r)}\n` : `${formatInspect(r)}\n`);
    });

  program
    .command('compress')
    .description(
      "Replace a model's linears by structured matrices at a parameter ratio and save it as a folder.",
    )
    .argument(
      '<model>',
      `a model folder (${EVERY_ARCHITECTURE}), a .safetensors with config.json beside it, a llama2.c .bin, or stories15M`,
    )
    .addOption(new Option('--method <m>', 'structure').choices(COMPRESS_METHODS).default('blast'))
    .option('--ratio <x>', 'fraction of each linear’s parameters to keep (or --budget)', ratio)
    .option('--blocks <b>', 'blocks per side (BLAST, Monarch; default 16)', positiveInt)
    .option('--steps <t>', 'BLAST solver steps per matrix (default 100, with early stopping)', positiveInt)
    .option('--seed <s>', 'random seed', nonNegativeInt, 0)
    .option(
      '--backend <name>',
      'compute backend: auto (native if it loads, else cpu), native, cpu, webgpu, tfjs[:engine], cuda',
      'auto',
    )
    .option(
      '--target-modules <list>',
      "module-name suffixes, comma-separated (default: every block linear), 'all-linear', or /regex/ over whole names",
      moduleRule,
    )
    .option('--exclude-modules <list>', 'module-name suffixes (or /regex/) to leave dense', moduleRule)
    .option('--layers <list>', 'only these layer indices, comma-separated', (v) =>
      v.split(',').map(nonNegativeInt),
    )
    .option(
      '--budget <file>',
      'per-module ranks: the JSON of inspect --dry-run --json (replaces --ratio per module)',
    )
    .addOption(
      new Option(
        '--allocate [how]',
        'spread the --ratio budget over modules: by their error curves (curves, the default), or by measured output sensitivity (sensitivity: KL on the calibration text with each module alone compressed; decoders, a planning pass that costs one compression)',
      )
        .choices(['curves', 'sensitivity'])
        .preset('curves'),
    )
    .option('--ratio-pattern <json>', 'per-module ratios by suffix, e.g. \'{"down_proj":0.3}\'', ratioPattern)
    .requiredOption('--out <dir>', 'output folder (config.json + model.safetensors)')
    .option('--resume', 'continue an interrupted run from <out>.checkpoints')
    .option(
      '--calibration <text>',
      "blast-data, svd-llm, rom: a .txt file, 'moby-dick', 'in-domain' (decoders with a tokenizer) or 'random' (seeded inputs, any model)",
    )
    .option(
      '--calibration-tokens <n>',
      'calibration tokens (default 512), or ViT/DiT samples (8)',
      positiveInt,
    )
    .option(
      '--sequential',
      `calibrate each block on the model with the blocks before it already compressed (${architectureLabels((a) => a.sequentialCalibration === true)}; as ROM does)`,
    )
    .addOption(
      new Option(
        '--covariance <c>',
        'blast-data: the whole input covariance (default full), or only its diagonal blocks',
      ).choices(['full', 'block-diagonal']),
    )
    .option('--compare', 'compare with the dense model (as eval --reference; Llama: also greedy text)')
    .option(
      '--queue <url>',
      'redis://[user:password@]host[:port][/db] or rediss:// (TLS): one job per matrix for `blastkit worker` processes',
    )
    .option(
      '--store <dir>',
      'with --queue: the checkpoint folder every worker reads and writes at the same path (default <out>.checkpoints)',
    )
    .option('--json', 'print one JSON object')
    .option('--quiet', 'no progress on stderr')
    .action(
      async (
        model: string,
        opts: Omit<CompressCommandOptions, 'model' | 'signal'> & { json?: boolean; quiet?: boolean },
      ) => {
        const progress = opts.quiet ? undefined : new ProgressLine('compress', err, io.tty);
        const result = await interruptible((signal) =>
          runCompress({
            ...opts,
            model,
            signal,
            onBackend: opts.quiet ? undefined : (text) => err(`${text}\n`),
            ...(opts.queue && !opts.quiet ? queueProgress(err, io.tty) : {}),
            onModule: (e) =>
              progress?.update(
                e.index + 1,
                e.total,
                `${e.name} rel. error ${e.relativeError.toFixed(4)}${e.resumed ? ' (resumed)' : ''}`,
              ),
          }).finally(() => progress?.finish()),
        );
        io.out(opts.json ? `${JSON.stringify(result)}\n` : `${formatCompress(result)}\n`);
      },
    );

  program
    .command('doctor')
    .description('Show which compute backends load on this machine, and why the others do not.')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }) => {
      const r = await runDoctor();
      io.out(opts.json ? `${JSON.stringify(r)}\n` : `${formatDoctor(r)}\n`);
    });

  program
    .command('eval')
    .description(
      `Evaluate a model, alone or against a reference (dense) model: perplexity / KL / top-1 agreement (${architectureLabels('causal-lm')}), ` +
        `classification accuracy and agreement (${architectureLabels('image-classification')}), noise-prediction error and sample agreement ` +
        `(${architectureLabels('diffusion')}), per-layer output error (all); every result a JSON record with its protocol.`,
    )
    .argument(
      '<model>',
      'a model folder (compressed or not), a .safetensors file, a llama2.c .bin, an asset, or (--backend ort) an exported ONNX folder',
    )
    .option('--text <file>', "a .txt file, 'moby-dick' (default) or 'in-domain' (sampled from the reference)")
    .option('--reference <model>', 'the dense model to compare with')
    .option('--tokenizer <file>', 'tokenizer.json or tokenizer.bin, when none lies beside the model')
    .option('--max-tokens <n>', 'tokens of text to score at most', positiveInt, 2048)
    .option('--window <w>', 'tokens per window (default min(256, context))', positiveInt)
    .option('--stride <s>', 'window stride (default window/2)', positiveInt)
    .option('--images <file>', 'ViT: labelled images (.safetensors with pixel_values and labels)')
    .option(
      '--samples <n>',
      'seeded inputs when no data is given: ViT images (32), DiT latents (16)',
      positiveInt,
    )
    .option('--layer-inputs <n>', 'per-layer error inputs: tokens (256) or ViT/DiT samples (2)', positiveInt)
    .addOption(new Option('--sampler <s>', 'DiT sample agreement: sampler').choices(['ddim', 'ddpm']))
    .option('--sample-steps <n>', 'DiT sample agreement: sampling steps (default 25)', positiveInt)
    .option('--sample-images <n>', 'DiT sample agreement: samples drawn (default 4)', positiveInt)
    .option('--cfg-scale <x>', 'DiT sample agreement: classifier-free guidance scale', nonNegative)
    .option('--seed <s>', 'seed of in-domain sampling and of every seeded input', nonNegativeInt, 0)
    .option(
      '--backend <name>',
      'compute backend: auto (native if it loads, else cpu), native, cpu, webgpu, tfjs[:engine], cuda; ort: <model> is a blastkit export --onnx folder, run by onnxruntime-node (perplexity)',
      'auto',
    )
    .option('--json', 'print one JSON object')
    .option('--quiet', 'no progress on stderr')
    .action(
      async (
        model: string,
        opts: Omit<import('./commands/eval.js').EvalCommandOptions, 'model'> & {
          json?: boolean;
          quiet?: boolean;
        },
      ) => {
        let phase = '';
        let line: ProgressLine | undefined;
        const onProgress = (p: string, done: number, total: number) => {
          if (p !== phase) {
            line?.finish();
            phase = p;
            line = new ProgressLine(`eval ${p}`, err, io.tty);
          }
          line?.update(done, total);
        };
        const r = await interruptible((signal) =>
          runEval({
            ...opts,
            model,
            signal,
            ...(opts.quiet ? {} : { onProgress, onBackend: (text) => err(`${text}\n`) }),
          }).finally(() => line?.finish()),
        );
        io.out(opts.json ? `${JSON.stringify(r)}\n` : `${formatEval(r)}\n`);
      },
    );

  program
    .command('export')
    .description(
      'Re-save a compressed model folder: dense weights (--dense), the BLAST reference format (--reference), or ONNX for onnxruntime and transformers.js (--onnx).',
    )
    .argument(
      '<dir>',
      'a folder written by blastkit compress (any architecture); for --onnx any Llama, GPT-2 or ViT model',
    )
    .option('--dense', 'multiply the factors back out, under the original names and layout')
    .option('--reference', "the reference implementation's blast_llama format (Llama, BLAST only)")
    .option(
      '--onnx',
      'a transformers.js folder with onnx/model.onnx (Llama, GPT-2, ViT; structured layers kept as ONNX ops)',
    )
    .addOption(
      new Option('--onnx-dtype <d>', "weights of --onnx (--dtype is --reference's)")
        .choices(WEIGHT_DTYPES)
        .default('fp32'),
    )
    .addOption(
      new Option(
        '--mixing <m>',
        'BLAST mixing of --onnx (default auto: per-block for large blocks, by-length for small)',
      ).choices(BLAST_MIXINGS),
    )
    .addOption(
      new Option('--dtype <d>', 'storage dtype for --reference').choices(['F16', 'F32']).default('F16'),
    )
    .requiredOption('--out <dir>', 'output folder')
    .option('--json', 'print one JSON object')
    .action(
      async (
        dir: string,
        opts: {
          dense?: boolean;
          reference?: boolean;
          onnx?: boolean;
          onnxDtype: WeightDtype;
          mixing?: BlastMixing;
          dtype: 'F16' | 'F32';
          out: string;
          json?: boolean;
        },
      ) => {
        const r = await runExport({ dir, ...opts });
        const size = 'onnx' in r && r.onnx ? `, ${r.onnx.model} ${r.onnx.dtype} ${r.onnx.bytes} bytes` : '';
        io.out(
          opts.json
            ? `${JSON.stringify(r)}\n`
            : `wrote ${r.out} (${r.format}, ${r.modules} structured modules${size})\n`,
        );
      },
    );

  program
    .command('generate')
    .description(
      `Continue a prompt with a decoder language model (${architectureLabels('causal-lm')}; dense or compressed).`,
    )
    .argument(
      '<model>',
      'a llama2.c .bin, a decoder model folder (compressed or not), an asset name, or (--backend ort) an exported ONNX folder',
    )
    .requiredOption('--prompt <text>', 'the prompt')
    .option('--max-tokens <n>', 'new tokens at most', positiveInt, 128)
    .option('--temperature <t>', '0 = greedy', nonNegative, 0)
    .option('--top-p <p>', 'nucleus sampling mass', ratio, 0.9)
    .option('--seed <s>', 'random seed for sampling', nonNegativeInt, 0)
    .option(
      '--backend <name>',
      'compute backend: auto (native if it loads, else cpu), native, cpu, webgpu, tfjs[:engine], cuda; ort: <model> is a blastkit export --onnx folder, run by onnxruntime-node (greedy)',
      'auto',
    )
    .option('--tokenizer <file>', 'tokenizer.bin or tokenizer.json, when it is not beside the model')
    .option('--json', 'print one JSON object when done instead of streaming the text')
    .action(
      async (
        model: string,
        opts: {
          prompt: string;
          maxTokens: number;
          temperature: number;
          topP: number;
          seed: number;
          backend: string;
          tokenizer?: string;
          json?: boolean;
        },
      ) => {
        if (!opts.json) io.out(opts.prompt);
        const result = await interruptible((signal) =>
          runGenerate({
            ...opts,
            model,
            signal,
            onText: opts.json ? undefined : (piece) => io.out(piece),
            onBackend: (text) => err(`${text}\n`),
          }),
        );
        if (opts.json) io.out(`${JSON.stringify(result)}\n`);
        else {
          io.out('\n');
          err(
            `${result.tokens.length} tokens, ${result.tokensPerSecond.toFixed(1)} tokens/s (${result.backend})\n`,
          );
        }
      },
    );

  program
    .command('bench')
    .description('Run a benchmark suite of @blastkit/bench (optional package) and print its results.')
    .argument('[suite]', 'suite name (see --list); every suite when omitted')
    .option('--list', 'list the suites and what each measures')
    .option('--quick', 'small sizes: seconds instead of minutes')
    .option('--full', 'the long variant, where a suite has one')
    .option(
      '--backends <list>',
      'kernels: backends to measure, comma-separated (cpu, webgpu, tfjs, tfjs:<engine>; default all)',
      (v: string) => v.split(',').filter(Boolean),
    )
    .option('--out <dir>', 'also write <dir>/<suite>.json (atomically), the input of the bench report')
    .option(
      '--json',
      "print one JSON object: the suite's result (every suite's, under `suites`, when none is named)",
    )
    .option('--quiet', 'no progress on stderr')
    .action(
      async (
        suite: string | undefined,
        opts: {
          list?: boolean;
          quick?: boolean;
          full?: boolean;
          backends?: string[];
          out?: string;
          json?: boolean;
          quiet?: boolean;
        },
      ) => {
        if (opts.list) {
          const list = await runBenchList();
          io.out(opts.json ? `${JSON.stringify(list)}\n` : `${formatBenchList(list)}\n`);
          return;
        }
        const log = opts.quiet ? undefined : (line: string) => err(`${line}\n`);
        // --json keeps the CLI's rule of one JSON object on stdout: the suite's result, or every suite's
        // results under `suites` when no suite is named (printed once they have all run).
        const results: unknown[] = [];
        await runBench(suite, { ...opts, log }, async (result) => {
          if (opts.json) results.push(result);
          else io.out(await formatBenchResult(result));
        });
        if (opts.json) io.out(`${JSON.stringify(suite === undefined ? { suites: results } : results[0])}\n`);
      },
    );

  program
    .command('worker')
    .description(
      'Take matrix jobs of `compress --queue` runs from a Redis queue until SIGINT/SIGTERM (then finish the running ones).',
    )
    .requiredOption('--queue <url>', 'redis://[user:password@]host[:port][/db] or rediss:// (TLS)')
    .option('--concurrency <n>', 'jobs at a time, each in its own process', positiveInt, 1)
    .option(
      '--backend <name>',
      "compute backend of every job (default: the coordinator's, as each job names it; auto, native, cpu, …)",
    )
    .option('--name <name>', 'this worker in the queue and the progress (default <host>:<pid>)')
    .option(
      '--lock-duration <ms>',
      "a job's lock: a dead worker's job goes to another after about this long",
      positiveInt,
      30_000,
    )
    .option('--json', 'one JSON object per event on stdout (JSON lines), the summary last')
    .option('--quiet', 'no per-job lines on stderr')
    .action(
      async (opts: {
        queue: string;
        concurrency: number;
        backend?: string;
        name?: string;
        lockDuration: number;
        json?: boolean;
        quiet?: boolean;
      }) => {
        const line = (o: object) => io.out(`${JSON.stringify(o)}\n`);
        const stop = new AbortController();
        let stopping = false;
        const onSignal = () => {
          // the second signal does not wait: the running jobs' locks expire and other workers redo them
          if (stopping) process.exit(130);
          stopping = true;
          stop.abort();
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        try {
          const r = await runWorker({
            ...opts,
            signal: stop.signal,
            onReady: (name, display) =>
              opts.json
                ? line({ type: 'ready', worker: name })
                : err(`worker ${name}: taking jobs from ${display} (Ctrl-C stops it)\n`),
            onEvent: (e, name) => {
              if (opts.json) line({ worker: name, ...e });
              else if (!opts.quiet) err(`${formatWorkerEvent(name, e)}\n`);
            },
            onStopping: (running) =>
              err(
                `stopping: ${running > 0 ? `finishing ${running} running job(s); a second Ctrl-C stops at once` : 'no job running'}\n`,
              ),
          });
          io.out(opts.json ? `${JSON.stringify({ type: 'stopped', ...r })}\n` : `${formatWorker(r)}\n`);
        } finally {
          process.removeListener('SIGINT', onSignal);
          process.removeListener('SIGTERM', onSignal);
        }
      },
    );

  registerRetrain(program, { out: io.out, err, tty: io.tty });

  return program;
}
