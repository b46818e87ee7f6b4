import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { defaultCacheDir } from '@blastkit/assets';
import { InvalidArgumentError, type StructuredMatrix, Tensor } from '@blastkit/core';
import {
  type CompressionConfig,
  LLAMA_LINEAR_SUFFIXES,
  type LlamaConfig,
  type OpenedLlama,
  openLlamaFolder,
  saveCompressedLlama,
  type TensorSource,
} from '@blastkit/models';
import * as tf from '@tensorflow/tfjs-core';
import { sampleSequences } from '../llama/sample.js';
import { TfLlama } from '../llama/tf-llama.js';
import type { StepEvent } from '../train/loop.js';
import { type DistillOptions, type DistillResult, distill } from './distill.js';
import { type SequencePerplexity, sequencePerplexity } from './evaluate.js';

/** A dense model to distil from, opened (any TensorSource with Llama names). */
export interface TeacherModel {
  source: TensorSource;
  config: LlamaConfig;
  /** For reports and the checkpoint fingerprint: "stories15M (llama2.c v0)". */
  description: string;
}

/** Where the training text comes from. */
export type RetrainText =
  | { kind: 'in-domain'; sequences: number; seed: number; length?: number }
  | { kind: 'tokens'; sequences: Int32Array[]; description: string };

export interface RetrainOptions extends Omit<DistillOptions, 'checkpoint' | 'fingerprint'> {
  /** A compressed model folder written by blastkit (`compress`). */
  compressed: string;
  teacher: TeacherModel;
  /** Output folder: the re-trained model, as a compressed folder. */
  out: string;
  text: RetrainText;
  /**
   * Held-out evaluation: in-domain sequences sampled from the teacher with their own seed (must differ from
   * the training text's), scored before and after training. Omit to skip.
   */
  evaluation?: { sequences: number; seed: number; length?: number };
  /** Where sampled text is cached (default ~/.cache/blastkit/in-domain). */
  cacheDir?: string;
  /** Engine name, recorded in the report and the text cache key. */
  engine?: string;
  /** Progress of the phases other than training (sampling, scoring). */
  onPhase?: (phase: string, done: number, total: number) => void;
  onStep?: (event: StepEvent & { kl: number; ce: number }) => void;
}

export interface RetrainReport {
  out: string;
  compressed: string;
  teacher: string;
  engine?: string;
  text: string;
  trainTokens: number;
  /** Perplexities on the held-out sample (same protocol for all three). */
  evaluation?: {
    text: string;
    teacher: SequencePerplexity;
    before: SequencePerplexity;
    after: SequencePerplexity;
    /** (before − after) / (before − teacher) in perplexity: the part of the compression gap training closed. */
    gapClosed: number;
    /** The same in mean log-likelihood per token (nats): stricter when the compressed perplexity is huge. */
    gapClosedNll: number;
  };
  training: Omit<DistillResult, 'losses' | 'kl'> & { firstLoss: number; lastLoss: number };
  settings: Record<string, string | number | boolean>;
  linearParameters: number;
  checkpoint: string;
}

/** Opens a compressed folder and builds its trainable tfjs model. */
export async function openStudent(dir: string): Promise<{ opened: OpenedLlama; model: TfLlama }> {
  const opened = await openLlamaFolder(dir);
  try {
    const model = await TfLlama.load(opened.source, opened.config, {
      replacements: opened.replacements,
      biases: opened.biases,
      file: dir,
    });
    return { opened, model };
  } catch (err) {
    await opened.source.close();
    throw err;
  }
}

/** A source whose listed tensors read as the given host tensors (trained norms, trained dense linears). */
class OverrideSource implements TensorSource {
  constructor(
    private readonly base: TensorSource,
    private readonly overrides: ReadonlyMap<string, Tensor>,
    /** Replaced modules: listed as `<module>.weight` (saveCompressedFolder swaps them for factors), never read. */
    private readonly replaced: ReadonlyMap<string, StructuredMatrix>,
  ) {}
  names() {
    return [...this.base.names(), ...[...this.replaced.keys()].map((m) => `${m}.weight`)];
  }
  shapeOf(name: string) {
    const m = this.replaced.get(name.replace(/\.weight$/, ''));
    if (m) return m.shape;
    return this.overrides.get(name)?.shape ?? this.base.shapeOf(name);
  }
  async readTensor(name: string) {
    return this.overrides.get(name) ?? this.base.readTensor(name);
  }
  close() {
    return this.base.close();
  }
}

/**
 * Saves a re-trained student as a compressed folder (what `openCompressedFolder`, `blastkit eval` and
 * `generate` read): its factors as replacements, its trained norm gains and dense linears in place of the
 * originals, the compression config kept and a `retrained` record added. Atomic (saveCompressedFolder).
 */
export async function saveRetrained(
  out: string,
  opened: OpenedLlama,
  model: TfLlama,
  retrained: Record<string, unknown>,
): Promise<void> {
  const overrides = new Map<string, Tensor>(model.normWeights());
  const replacements = new Map<string, StructuredMatrix>();
  const biases = new Map<string, Tensor>();
  for (let l = 0; l < model.config.numLayers; l++)
    for (const s of LLAMA_LINEAR_SUFFIXES) {
      const module = `model.layers.${l}.${s}`;
      const lin = model.linear(module);
      const matrix = lin.toStructuredMatrix();
      if (opened.replacements.has(module)) replacements.set(module, matrix);
      else overrides.set(`${module}.weight`, matrix.toNamedTensors().weight);
      const bias = lin.biasData();
      if (bias) biases.set(module, new Tensor([bias.length], bias));
    }
  const {
    format_version: _v,
    modules: _m,
    ...kept
  } = (opened.compression ?? { method: 'none' }) as CompressionConfig;
  await saveCompressedLlama(
    out,
    opened.config,
    new OverrideSource(opened.source, overrides, replacements),
    replacements,
    { ...kept, method: String(kept.method ?? 'none'), retrained },
    biases,
  );
}

/**
 * In-domain text sampled from `teacher` (temperature 1, top-p 0.9), cached on disk by everything that
 * determines it (model, seed, counts, engine): the dense model writes its own training and evaluation text.
 */
export async function inDomainSequences(
  teacher: TfLlama,
  o: {
    sequences: number;
    length: number;
    seed: number;
    modelKey: string;
    engine?: string;
    cacheDir?: string;
    signal?: AbortSignal;
    onProgress?: (done: number, total: number) => void;
  },
): Promise<Int32Array[]> {
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        v: 1,
        model: o.modelKey,
        n: o.sequences,
        len: o.length,
        seed: o.seed,
        T: 1,
        p: 0.9,
        engine: o.engine ?? '',
      }),
    )
    .digest('hex')
    .slice(0, 20);
  const dir = o.cacheDir ?? join(defaultCacheDir(), 'in-domain');
  const path = join(dir, `${key}.i32`);
  if (existsSync(path)) {
    const bytes = await readFile(path);
    if (bytes.length === o.sequences * o.length * 4) {
      const all = new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
      return Array.from({ length: o.sequences }, (_, i) => all.slice(i * o.length, (i + 1) * o.length));
    }
  }
  const seqs = await sampleSequences(teacher, {
    sequences: o.sequences,
    length: o.length,
    seed: o.seed,
    signal: o.signal,
    onProgress: o.onProgress,
  });
  const all = new Int32Array(o.sequences * o.length);
  seqs.forEach((s, i) => {
    all.set(s, i * o.length);
  });
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, new Uint8Array(all.buffer));
  await rename(tmp, path);
  return seqs;
}

/**
 * Re-trains a compressed model by distillation from its dense teacher and saves it: open both, sample or
 * take the training text, score the held-out sample (teacher and student), distil with checkpoints, score
 * again, save the folder atomically. The checkpoint sits next to `out` (`<out>.checkpoint.safetensors`) and
 * is removed once the folder is written; `resume` continues from it.
 */
export async function retrain(options: RetrainOptions): Promise<RetrainReport> {
  if (
    options.text.kind === 'in-domain' &&
    options.evaluation &&
    options.evaluation.seed === options.text.seed
  )
    throw new InvalidArgumentError(
      `retrain: the evaluation text must be a different sample from the training text (both use seed ${options.text.seed})`,
    );
  const checkpoint = `${options.out.replace(/\/+$/, '')}.checkpoint.safetensors`;
  await mkdir(dirname(checkpoint), { recursive: true });
  const teacher = await TfLlama.load(options.teacher.source, options.teacher.config, {
    trainable: false,
    file: options.teacher.description,
  });
  let student: { opened: OpenedLlama; model: TfLlama } | undefined;
  try {
    student = await openStudent(options.compressed);
    const { model, opened } = student;
    const ctx = model.config.maxPositionEmbeddings;
    if (
      teacher.config.hiddenSize !== model.config.hiddenSize ||
      teacher.config.vocabSize !== model.config.vocabSize
    )
      throw new InvalidArgumentError(
        `retrain: teacher (${options.teacher.description}) and ${options.compressed} are not the same architecture`,
      );
    const modelKey = `${options.teacher.description}|${JSON.stringify(options.teacher.config)}`;
    let train: Int32Array[];
    let textDescription: string;
    if (options.text.kind === 'in-domain') {
      const length = options.text.length ?? ctx;
      train = await inDomainSequences(teacher, {
        sequences: options.text.sequences,
        length,
        seed: options.text.seed,
        modelKey,
        engine: options.engine,
        cacheDir: options.cacheDir,
        signal: options.signal,
        onProgress: (d, t) => options.onPhase?.('sampling training text', d, t),
      });
      textDescription = `in-domain: ${train.length} sequences of ${length} tokens sampled from the teacher (seed ${options.text.seed}, T 1, top-p 0.9)`;
    } else {
      train = options.text.sequences;
      textDescription = options.text.description;
    }
    let evalSeqs: Int32Array[] | undefined;
    let evalText = '';
    let before: SequencePerplexity | undefined;
    let teacherPpl: SequencePerplexity | undefined;
    if (options.evaluation) {
      const length = options.evaluation.length ?? ctx;
      evalSeqs = await inDomainSequences(teacher, {
        sequences: options.evaluation.sequences,
        length,
        seed: options.evaluation.seed,
        modelKey,
        engine: options.engine,
        cacheDir: options.cacheDir,
        signal: options.signal,
        onProgress: (d, t) => options.onPhase?.('sampling evaluation text', d, t),
      });
      evalText = `in-domain held-out: ${evalSeqs.length} sequences of ${length} tokens sampled from the teacher (seed ${options.evaluation.seed}, T 1, top-p 0.9)`;
      options.onPhase?.('scoring teacher and compressed model', 0, 2);
      teacherPpl = sequencePerplexity(teacher, evalSeqs);
      options.onPhase?.('scoring teacher and compressed model', 1, 2);
      before = sequencePerplexity(model, evalSeqs);
      options.onPhase?.('scoring teacher and compressed model', 2, 2);
    }
    const settings = {
      steps: options.steps,
      lr: options.lr ?? 1e-3,
      batch: options.batch ?? 2,
      accumulate: options.accumulate ?? 1,
      seqLen: options.seqLen ?? ctx,
      temperature: options.temperature ?? 1,
      klWeight: options.klWeight ?? 1,
      ceWeight: options.ceWeight ?? 0,
      weightDecay: options.weightDecay ?? 0,
      seed: options.seed ?? 0,
    };
    const result = await distill(model, teacher, train, {
      ...options,
      checkpoint,
      fingerprint: {
        compressed: options.compressed,
        teacher: options.teacher.description,
        text: textDescription,
      },
    });
    let evaluation: RetrainReport['evaluation'];
    if (evalSeqs && before && teacherPpl) {
      options.onPhase?.('scoring re-trained model', 0, 1);
      const after = sequencePerplexity(model, evalSeqs);
      options.onPhase?.('scoring re-trained model', 1, 1);
      evaluation = {
        text: evalText,
        teacher: teacherPpl,
        before,
        after,
        gapClosed: (before.perplexity - after.perplexity) / (before.perplexity - teacherPpl.perplexity),
        gapClosedNll: (before.nll - after.nll) / (before.nll - teacherPpl.nll),
      };
    }
    await saveRetrained(options.out, opened, model, {
      teacher: options.teacher.description,
      text: textDescription,
      ...settings,
      engine: options.engine ?? tf.getBackend(),
      ...(evaluation
        ? {
            evaluation: evaluation.text,
            perplexity_teacher: evaluation.teacher.perplexity,
            perplexity_before: evaluation.before.perplexity,
            perplexity_after: evaluation.after.perplexity,
          }
        : {}),
    });
    await rm(checkpoint, { force: true });
    const { losses, kl: _kl, ...rest } = result;
    return {
      out: options.out,
      compressed: options.compressed,
      teacher: options.teacher.description,
      ...(options.engine ? { engine: options.engine } : {}),
      text: textDescription,
      trainTokens: train.reduce((s, x) => s + x.length, 0),
      ...(evaluation ? { evaluation } : {}),
      training: { ...rest, firstLoss: losses[0], lastLoss: losses[losses.length - 1] },
      settings,
      linearParameters: model.linearParameterCount(),
      checkpoint,
    };
  } finally {
    teacher.dispose();
    if (student) {
      student.model.dispose();
      await student.opened.source.close();
    }
  }
}
