import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, ShapeError } from '@blastkit/core';
import { fingerprintDifference, type RunFingerprint } from '@blastkit/factorize/node';
import { ModelFormatError } from '@blastkit/models';
import {
  assertOutputApart,
  normalizePath,
  OUTPUT_MARKER,
  OutputSafetyError,
  outputFolderState,
  SafetensorsError,
  writeFileAtomic,
} from '@blastkit/safetensors';
import type { RetrainReport, RetrainText, StepEvent } from '@blastkit/train';
import { type Command, InvalidArgumentError as CommanderInvalidArgument } from 'commander';
import { InterruptedError, UsageError } from '../errors.js';
import { loadTokenizer, openModelArgument } from '../io/model-input.js';
import { ProgressLine } from '../progress.js';
import { fileDigest, inputPaths, weightsDigest } from './compress.js';

export interface RetrainCommandOptions {
  /** A compressed model folder (written by `blastkit compress`). */
  model: string;
  /** The dense model it was compressed from: an asset name, a llama2.c .bin or a Llama folder. */
  teacher: string;
  /** Output folder: absent, empty or written by blastkit (replaced whole); never an input or around one. */
  out: string;
  steps?: number;
  lr?: number;
  /** Sequences per micro-batch. */
  batch?: number;
  accumulate?: number;
  seqLen?: number;
  /** 'in-domain' (default: sampled from the teacher) or a .txt file. */
  text?: string;
  /** In-domain training sequences to sample (default 256). */
  trainSequences?: number;
  /** Held-out in-domain sequences to score before and after (default 16; 0 = skip). */
  evalSequences?: number;
  temperature?: number;
  ceWeight?: number;
  weightDecay?: number;
  seed?: number;
  /** tfjs engines in order of preference (default: the fastest present). */
  engine?: string;
  resume?: boolean;
  signal?: AbortSignal;
  onStep?: (e: StepEvent & { kl: number; ce: number }) => void;
  onPhase?: (phase: string, done: number, total: number) => void;
}

export type RetrainCommandResult = RetrainReport & { engineDetail: string };

/** The held-out sample's seed is derived from the training seed so the two can never coincide. */
const EVAL_SEED_OFFSET = 1_000_003;

/** Splits a text file's tokens into training sequences of `seqLen`, each starting with BOS. */
function fileSequences(ids: number[], seqLen: number, bos: number): Int32Array[] {
  const per = seqLen - 1;
  const out: Int32Array[] = [];
  for (let start = 0; start + per <= ids.length; start += per) {
    const s = new Int32Array(seqLen);
    s[0] = bos;
    s.set(ids.slice(start, start + per), 1);
    out.push(s);
  }
  return out;
}

/** `blastkit retrain`: distil a compressed model from its dense teacher and save it as a compressed folder. */
export async function runRetrain(o: RetrainCommandOptions): Promise<RetrainCommandResult> {
  if (!existsSync(join(o.model, 'config.json')) || !statSync(o.model).isDirectory())
    throw new UsageError(
      `retrain: '${o.model}' is not a model folder (run 'blastkit compress … --out DIR' first)`,
    );
  const out = normalizePath(o.out);
  const checkpoint = `${out}.checkpoint.safetensors`;
  const inputs = [
    ...inputPaths(o.model),
    ...inputPaths(o.teacher),
    ...(o.text && o.text !== 'in-domain' ? [o.text] : []),
  ];
  try {
    assertOutputApart(o.out, inputs);
    assertOutputApart(checkpoint, inputs, 'the checkpoint');
    await outputFolderState(out);
  } catch (err) {
    if (err instanceof OutputSafetyError) throw new UsageError(err.message);
    throw err;
  }
  const train = await import('@blastkit/train').catch((err: Error) => {
    throw new UsageError(
      `retrain needs @blastkit/train, which cannot be loaded (${err.message.split('\n')[0]})`,
    );
  });
  let engine: { name: string; backend: string };
  try {
    engine = await train.selectTrainEngine(o.engine ? o.engine.split(',') : undefined);
  } catch (err) {
    throw new UsageError(`--engine: ${(err as Error).message}`);
  }
  const backendTfjs = (await import('@blastkit/backend-tfjs').catch(() => ({}))) as {
    currentTfjsEngine?: () => { detail: string } | undefined;
  };
  const engineDetail = backendTfjs.currentTfjsEngine?.()?.detail ?? engine.name;
  const teacher = await openModelArgument(o.teacher);
  try {
    if (teacher.replacements.size > 0)
      throw new UsageError(
        `--teacher ${o.teacher}: the teacher must be the dense model, not a compressed one`,
      );
    const seqLen = o.seqLen ?? teacher.config.maxPositionEmbeddings;
    const seed = o.seed ?? 0;
    let text: RetrainText;
    if (o.text === undefined || o.text === 'in-domain') {
      text = { kind: 'in-domain', sequences: o.trainSequences ?? 256, seed, length: seqLen };
    } else {
      if (!existsSync(o.text))
        throw new UsageError(`--text ${o.text}: no such file (a .txt file or 'in-domain')`);
      const tokenizerPath = teacher.tokenizerPath;
      if (!tokenizerPath)
        throw new UsageError(`--text ${o.text}: no tokenizer beside ${o.teacher} to encode it`);
      const tokenizer = await loadTokenizer(tokenizerPath);
      const ids = tokenizer.encode(readFileSync(o.text, 'utf8'), { bos: false });
      const sequences = fileSequences(ids, seqLen, teacher.config.bosTokenId ?? 1);
      if (sequences.length === 0)
        throw new UsageError(`--text ${o.text}: ${ids.length} tokens, fewer than one sequence of ${seqLen}`);
      text = {
        kind: 'tokens',
        sequences,
        description: `${o.text}: ${sequences.length} sequences of ${seqLen} tokens`,
      };
    }
    const evalSequences = o.evalSequences ?? 16;
    // everything that determines the result: a checkpoint of another run is refused, naming the difference
    const fingerprint: RunFingerprint = {
      compressed: await folderDigest(o.model),
      teacher: await weightsDigest(teacher.source),
      text: text.kind === 'in-domain' ? 'in-domain' : await fileDigest(o.text as string),
      trainSequences: o.trainSequences ?? 256,
      evalSequences,
      steps: o.steps ?? 200,
      lr: o.lr ?? null,
      batch: o.batch ?? null,
      accumulate: o.accumulate ?? null,
      seqLen,
      temperature: o.temperature ?? null,
      ceWeight: o.ceWeight ?? null,
      weightDecay: o.weightDecay ?? null,
      seed,
      engine: engine.name,
    };
    await checkRunFingerprint(`${out}.checkpoint.run.json`, checkpoint, fingerprint, Boolean(o.resume));
    const report = await train.retrain({
      compressed: o.model,
      teacher: { source: teacher.source, config: teacher.config, description: teacher.description },
      out,
      text,
      ...(evalSequences > 0
        ? { evaluation: { sequences: evalSequences, seed: seed + EVAL_SEED_OFFSET, length: seqLen } }
        : {}),
      steps: o.steps ?? 200,
      lr: o.lr,
      batch: o.batch,
      accumulate: o.accumulate,
      seqLen,
      temperature: o.temperature,
      ceWeight: o.ceWeight,
      weightDecay: o.weightDecay,
      seed,
      resume: o.resume,
      engine: engine.name,
      signal: o.signal,
      onStep: o.onStep,
      onPhase: o.onPhase,
    });
    await rm(`${out}.checkpoint.run.json`, { force: true });
    return { ...report, engineDetail };
  } catch (err) {
    if (o.signal?.aborted || (err as Error).name === 'TrainingInterruptedError')
      throw new InterruptedError(
        `retrain: interrupted; the last finished step is in ${checkpoint} — run again with --resume`,
      );
    if (
      err instanceof ModelFormatError ||
      err instanceof InvalidArgumentError ||
      err instanceof ShapeError ||
      err instanceof SafetensorsError ||
      err instanceof OutputSafetyError ||
      (err as Error).name === 'CheckpointError'
    )
      throw new UsageError((err as Error).message);
    throw err;
  } finally {
    await teacher.source.close();
  }
}

/** SHA-256 over a model folder's config and weight files (name and bytes of each). */
async function folderDigest(dir: string): Promise<string> {
  const files = readdirSync(dir)
    .filter((f) => (f.endsWith('.json') || f.endsWith('.safetensors')) && f !== OUTPUT_MARKER)
    .sort();
  const parts: string[] = [];
  for (const f of files) parts.push(`${f}:${await fileDigest(join(dir, f))}`);
  return parts.join(',');
}

/**
 * A retrain checkpoint is only resumed by the run that wrote it: `sidecar` holds that run's fingerprint
 * (written before training starts, so it exists whenever the checkpoint does). With `resume` and a checkpoint,
 * the fingerprints must match (else a usage error naming the first difference); otherwise this run's is saved.
 */
async function checkRunFingerprint(
  sidecar: string,
  checkpoint: string,
  fingerprint: RunFingerprint,
  resume: boolean,
): Promise<void> {
  if (resume && existsSync(checkpoint)) {
    let saved: RunFingerprint;
    try {
      saved = JSON.parse(await readFile(sidecar, 'utf8'));
    } catch {
      throw new UsageError(
        `--resume: ${checkpoint} has no readable run fingerprint (${sidecar}); it cannot be checked against this run — delete it to start over`,
      );
    }
    const difference = fingerprintDifference(saved, fingerprint);
    if (difference !== undefined)
      throw new UsageError(
        `--resume: ${checkpoint} was written by another run (${difference}); resume with the same inputs and settings, or delete it to start over`,
      );
    return;
  }
  const text = `${JSON.stringify(fingerprint, null, 1)}\n`;
  await writeFileAtomic(
    sidecar,
    (sink) => sink.write(new TextEncoder().encode(text)),
    (problem, cause) => new Error(`${sidecar}: ${problem}`, { cause }),
  );
}

export function formatRetrain(r: RetrainCommandResult): string {
  const t = r.training;
  const lines = [
    `re-trained ${r.compressed} from ${r.teacher} on ${r.engineDetail}`,
    `  text: ${r.text}`,
    `  ${t.steps} steps${t.resumedFrom ? ` (resumed at ${t.resumedFrom})` : ''}, ${t.tokensPerStep} tokens/step, ${t.secondsPerStep.toFixed(2)} s/step; loss ${t.firstLoss.toFixed(4)} → ${t.lastLoss.toFixed(4)}`,
  ];
  const e = r.evaluation;
  if (e)
    lines.push(
      `  ${e.text}`,
      `  perplexity: teacher ${e.teacher.perplexity.toFixed(3)}, compressed ${e.before.perplexity.toFixed(3)}, re-trained ${e.after.perplexity.toFixed(3)} (${(100 * e.gapClosed).toFixed(1)}% of the gap closed)`,
    );
  lines.push(`  saved ${r.out}`);
  return lines.join('\n');
}

function positive(kind: 'int' | 'number', allowZero = false) {
  return (value: string): number => {
    const n = Number(value);
    const ok = (kind === 'int' ? Number.isInteger(n) : Number.isFinite(n)) && (allowZero ? n >= 0 : n > 0);
    if (!ok)
      throw new CommanderInvalidArgument(
        `expected a${allowZero ? ' non-negative' : ' positive'} ${kind === 'int' ? 'integer' : 'number'}, got '${value}'`,
      );
    return n;
  };
}

/**
 * Adds `blastkit retrain` to the command tree (kept here so program.ts only registers it). Progress goes to
 * `err`, the result to `out`; Ctrl-C stops at the next step boundary after writing the checkpoint.
 */
export function registerRetrain(
  program: Command,
  io: { out: (s: string) => void; err: (s: string) => void; tty?: boolean },
): void {
  program
    .command('retrain')
    .description(
      'Re-train a compressed model by distillation from its dense model (factors and norms trained, embeddings frozen).',
    )
    .argument('<compressed>', 'a compressed model folder written by blastkit compress')
    .requiredOption('--teacher <model>', 'the dense model: stories15M, a llama2.c .bin or a Llama folder')
    .requiredOption('--out <dir>', 'output folder (a compressed model folder, written atomically)')
    .option('--steps <n>', 'optimizer steps (default 200)', positive('int'))
    .option('--lr <x>', 'peak learning rate, cosine schedule with warmup (default 1e-3)', positive('number'))
    .option('--batch <n>', 'sequences per micro-batch (default 2)', positive('int'))
    .option('--accumulate <n>', 'micro-batches per optimizer step (default 1)', positive('int'))
    .option('--seq-len <n>', 'tokens per training sequence (default: the context)', positive('int'))
    .option('--text <src>', "training text: 'in-domain' (sampled from the teacher, default) or a .txt file")
    .option('--train-sequences <n>', 'in-domain training sequences to sample (default 256)', positive('int'))
    .option(
      '--eval-sequences <n>',
      'held-out in-domain sequences (another seed) scored before and after; 0 = none (default 16)',
      positive('int', true),
    )
    .option('--temperature <t>', 'distillation temperature (default 1)', positive('number'))
    .option(
      '--ce-weight <w>',
      'weight of the next-token loss added to the KL (default 0)',
      positive('number', true),
    )
    .option('--weight-decay <w>', 'AdamW weight decay on the factors (default 0)', positive('number', true))
    .option('--seed <s>', 'seed of the text sample and data order (default 0)', positive('int', true))
    .option(
      '--engine <list>',
      'tfjs engines in order of preference, e.g. tfjs-node,wasm (default: fastest present)',
    )
    .option('--resume', 'continue an interrupted run from <out>.checkpoint.safetensors')
    .option('--json', 'print one JSON object')
    .option('--quiet', 'no progress on stderr')
    .action(
      async (
        model: string,
        opts: Omit<RetrainCommandOptions, 'model' | 'signal' | 'onStep' | 'onPhase'> & {
          json?: boolean;
          quiet?: boolean;
        },
      ) => {
        const steps = opts.quiet ? undefined : new ProgressLine('retrain', io.err, io.tty);
        let phase: ProgressLine | undefined;
        let phaseName = '';
        const controller = new AbortController();
        const onSigint = () => controller.abort(new Error('interrupted'));
        process.once('SIGINT', onSigint);
        try {
          const result = await runRetrain({
            ...opts,
            model,
            signal: controller.signal,
            onPhase: opts.quiet
              ? undefined
              : (name, done, total) => {
                  if (name !== phaseName) {
                    phase?.finish();
                    phase = new ProgressLine(name, io.err, io.tty);
                    phaseName = name;
                  }
                  phase?.update(done, total);
                },
            onStep:
              steps &&
              ((e) => {
                phase?.finish();
                steps.update(
                  e.step,
                  e.steps,
                  `loss ${e.loss.toFixed(4)} KL ${e.kl.toFixed(4)} lr ${e.lr.toExponential(2)} ${(e.throughput | 0).toString()} tok/s`,
                );
              }),
          }).finally(() => {
            steps?.finish();
            phase?.finish();
          });
          io.out(opts.json ? `${JSON.stringify(result)}\n` : `${formatRetrain(result)}\n`);
        } finally {
          process.removeListener('SIGINT', onSigint);
        }
      },
    );
}
