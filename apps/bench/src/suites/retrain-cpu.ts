import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultCacheDir, fetchAsset } from '@blastkit/assets';
import { CpuBackend } from '@blastkit/core';
import { perplexity } from '@blastkit/eval';
import { DirectoryCheckpointStore } from '@blastkit/factorize/node';
import {
  compressLinears,
  LLAMA_LINEAR_SUFFIXES,
  Llama2cCheckpoint,
  LlamaModel,
  openLlamaFolder,
  saveCompressedLlama,
} from '@blastkit/models';
import {
  compareStepTimes,
  inDomainSequences,
  type RetrainReport,
  retrain,
  selectTrainEngine,
  TfLlama,
} from '@blastkit/train';
import { round } from '../timing.js';

export interface RetrainCpuOptions {
  /** A few steps on a few sequences: checks the suite runs (minutes), measures nothing worth reporting. */
  quick?: boolean;
  /** Also re-train the calibration-aware 'blast-data' compression (another ~30 min). */
  full?: boolean;
  log?: (line: string) => void;
}

/** The run's settings: chosen so the distillation fits in 30 minutes on the 2-core machine (see README). */
const SETTINGS = {
  ratio: 0.5,
  blocks: 16,
  steps: 150,
  batch: 2,
  accumulate: 1,
  seqLen: 256,
  lr: 1e-3,
  temperature: 1,
  trainSequences: 512,
  trainSeed: 1,
  evalSequences: 16,
  evalSeed: 2,
};
const QUICK = { ...SETTINGS, steps: 3, trainSequences: 4, evalSequences: 2 };

function load(): number[] {
  return loadavg().map((x) => round(x));
}

/**
 * stories15M compressed with BLAST to 50% of its decoder-linear parameters (the models package's
 * compressLinears, b = 16), then re-trained by distillation from the dense model on in-domain text it samples
 * (seed 1); perplexity of dense, compressed and re-trained on a different held-out sample (seed 2), and the
 * fraction of the gap closed. Also the training step time of the BLAST student against the dense model as
 * student, same batch, same engine. The compressed folders and sampled texts are cached under
 * ~/.cache/blastkit/bench/retrain-cpu, so a rerun skips compression.
 */
export async function runRetrainCpu(options: RetrainCpuOptions = {}) {
  const log = options.log ?? (() => {});
  const s = options.quick ? QUICK : SETTINGS;
  const engine = await selectTrainEngine();
  const backendTfjs = (await import('@blastkit/backend-tfjs').catch(() => ({}))) as {
    currentTfjsEngine?: () => { detail: string } | undefined;
  };
  const engineDetail = backendTfjs.currentTfjsEngine?.()?.detail ?? engine.name;
  log(`engine: ${engineDetail}`);
  const files = await fetchAsset('stories15M');
  const work = options.quick
    ? await mkdtemp(join(tmpdir(), 'retrain-cpu-'))
    : join(defaultCacheDir(), 'bench', 'retrain-cpu');
  const cacheDir = join(work, 'in-domain');
  const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
  const teacherDescription = `stories15M (llama2.c v${ck.version})`;
  const modules: string[] = [];
  for (let l = 0; l < ck.config.numLayers; l++)
    for (const suffix of LLAMA_LINEAR_SUFFIXES) modules.push(`model.layers.${l}.${suffix}`);
  const methods: ('blast' | 'blast-data')[] = options.full ? ['blast', 'blast-data'] : ['blast'];
  const runs = [];
  try {
    for (const method of methods) {
      const folder = join(work, `stories15M-${method}-${s.ratio * 100}${options.quick ? '-quick' : ''}`);
      let compressSeconds: number | null = null;
      if (!existsSync(join(folder, 'config.json'))) {
        log(`compressing stories15M with ${method} to ${s.ratio} of the decoder-linear parameters…`);
        const t0 = performance.now();
        const calibration =
          method === 'blast-data'
            ? await calibrationInputs(ck, modules, cacheDir, teacherDescription)
            : undefined;
        const { replacements } = await compressLinears(ck, modules, {
          method,
          ratio: s.ratio,
          blocks: s.blocks,
          seed: 0,
          ...(options.quick ? { steps: 2 } : {}),
          ...(calibration ? { calibration } : {}),
          store: await DirectoryCheckpointStore.open(`${folder}.checkpoints`),
          onMatrix: (e) =>
            log(`  ${e.index + 1}/${e.total} ${e.name} rel. error ${e.relativeError.toFixed(4)}`),
        });
        await saveCompressedLlama(folder, ck.config, ck, replacements, { method, ratio: s.ratio });
        await rm(`${folder}.checkpoints`, { recursive: true, force: true });
        compressSeconds = (performance.now() - t0) / 1000;
      }
      // the texts first (cached on disk after the first run): sampling is data preparation, timed apart
      const modelKey = `${teacherDescription}|${JSON.stringify(ck.config)}`;
      const tSample = performance.now();
      const sampler = await TfLlama.load(ck, ck.config, { trainable: false });
      for (const [sequences, seed] of [
        [s.evalSequences, s.evalSeed],
        [s.trainSequences, s.trainSeed],
      ]) {
        let lastSampleLog = 0;
        await inDomainSequences(sampler, {
          sequences,
          length: s.seqLen,
          seed,
          modelKey,
          engine: engine.name,
          cacheDir,
          onProgress: (done, total) => {
            if (done === total || performance.now() - lastSampleLog > 30_000) {
              lastSampleLog = performance.now();
              log(`  sampling ${sequences} sequences (seed ${seed}): ${done}/${total} tokens`);
            }
          },
        });
      }
      sampler.dispose();
      const sampleSeconds = (performance.now() - tSample) / 1000;
      const loadBefore = load();
      const t0 = performance.now();
      let lastLog = 0;
      const report: RetrainReport = await retrain({
        compressed: folder,
        teacher: { source: ck, config: ck.config, description: teacherDescription },
        out: `${folder}-retrained`,
        text: { kind: 'in-domain', sequences: s.trainSequences, seed: s.trainSeed, length: s.seqLen },
        evaluation: { sequences: s.evalSequences, seed: s.evalSeed, length: s.seqLen },
        steps: s.steps,
        batch: s.batch,
        accumulate: s.accumulate,
        seqLen: s.seqLen,
        lr: s.lr,
        temperature: s.temperature,
        seed: 0,
        resume: true,
        engine: engine.name,
        cacheDir,
        onPhase: (phase, done, total) => {
          if (done === total || performance.now() - lastLog > 30_000) {
            lastLog = performance.now();
            log(`  ${phase}: ${done}/${total}`);
          }
        },
        onStep: (e) => {
          if (e.step === 1 || e.step % 10 === 0 || e.step === e.steps)
            log(
              `  step ${e.step}/${e.steps} loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} ${e.seconds.toFixed(0)} s, ETA ${e.eta.toFixed(0)} s`,
            );
        },
      });
      const totalSeconds = (performance.now() - t0) / 1000;
      const loadAfter = load();
      const check = await crossCheck(
        ck,
        folder,
        `${folder}-retrained`,
        cacheDir,
        teacherDescription,
        engine.name,
        s,
        options.quick ? 1 : 4,
      );
      const e = report.evaluation!;
      runs.push({
        method,
        compressSeconds: compressSeconds === null ? 'cached' : round(compressSeconds),
        linearParameters: report.linearParameters,
        perplexity: {
          protocol: e.after.protocol,
          text: e.text,
          dense: round(e.teacher.perplexity),
          compressed: round(e.before.perplexity),
          retrained: round(e.after.perplexity),
          gapClosed: round(e.gapClosed),
          gapClosedNll: round(e.gapClosedNll),
        },
        crossCheck: check,
        training: {
          text: report.text,
          steps: report.training.steps,
          resumedFrom: report.training.resumedFrom,
          tokensPerStep: report.training.tokensPerStep,
          secondsPerStep: round(report.training.secondsPerStep),
          trainingSeconds: round(report.training.seconds),
          firstLoss: round(report.training.firstLoss),
          lastLoss: round(report.training.lastLoss),
        },
        settings: report.settings,
        sampleSeconds: round(sampleSeconds),
        retrainWallSeconds: round(totalSeconds),
        fitsIn30Minutes: totalSeconds <= 1800,
        loadAverage: { before: loadBefore, after: loadAfter },
      });
    }
    const stepTime = await stepTimes(
      ck,
      `${join(work, `stories15M-blast-${s.ratio * 100}${options.quick ? '-quick' : ''}`)}`,
      s.batch,
      s.seqLen,
      options.quick ? 2 : 5,
      log,
    );
    return {
      suite: 'retrain-cpu',
      engine: engine.name,
      engineDetail,
      node: process.version,
      cpus: (await import('node:os')).cpus().length,
      model: 'stories15M',
      runs,
      stepTime,
      targets: { gapClosed: 0.5, blastOverDenseStepTime: 0.8, minutes: 30 },
    };
  } finally {
    await ck.close();
    if (options.quick) await rm(work, { recursive: true, force: true });
  }
}

/** 'blast-data' needs each linear's inputs: 512 in-domain tokens (another seed) through the dense model. */
async function calibrationInputs(
  ck: Llama2cCheckpoint,
  modules: string[],
  cacheDir: string,
  description: string,
) {
  const { collectLinearInputs } = await import('@blastkit/models');
  const teacher = await TfLlama.load(ck, ck.config, { trainable: false });
  const seqs = await inDomainSequences(teacher, {
    sequences: 2,
    length: 256,
    seed: 3,
    modelKey: `${description}|${JSON.stringify(ck.config)}`,
    cacheDir,
  });
  teacher.dispose();
  const be = new CpuBackend();
  const model = await LlamaModel.load(ck, ck.config, { backend: be });
  const inputs = await collectLinearInputs(
    model,
    seqs.map((x) => Array.from(x)),
    modules,
  );
  model.dispose();
  return inputs;
}

/**
 * The held-out perplexities again, through @blastkit/models' LlamaModel on the CPU backend and @blastkit/eval,
 * reading the saved folders: the re-trained model works outside the training code, and the two protocols agree.
 */
async function crossCheck(
  ck: Llama2cCheckpoint,
  compressed: string,
  retrained: string,
  cacheDir: string,
  description: string,
  engine: string,
  settings: typeof SETTINGS,
  count: number,
) {
  const teacher = await TfLlama.load(ck, ck.config, { trainable: false });
  const seqs = (
    await inDomainSequences(teacher, {
      sequences: settings.evalSequences,
      length: settings.seqLen,
      seed: settings.evalSeed,
      modelKey: `${description}|${JSON.stringify(ck.config)}`,
      engine,
      cacheDir,
    })
  ).slice(0, count);
  teacher.dispose();
  const be = new CpuBackend();
  const out: Record<string, number> = {};
  const score = async (model: LlamaModel) => {
    let nll = 0;
    let tokens = 0;
    for (const sq of seqs) {
      const r = await perplexity(model, Array.from(sq.subarray(1)), {
        window: sq.length,
        // one window: the BOS prefix takes one of its positions
        stride: sq.length - 1,
        prefixToken: 1,
      });
      nll += r.nll * r.tokens;
      tokens += r.tokens;
    }
    return round(Math.exp(nll / tokens));
  };
  const dense = await LlamaModel.load(ck, ck.config, { backend: be });
  out.dense = await score(dense);
  dense.dispose();
  for (const [name, dir] of [
    ['compressed', compressed],
    ['retrained', retrained],
  ] as const) {
    const opened = await openLlamaFolder(dir);
    const model = await LlamaModel.load(opened.source, opened.config, {
      backend: be,
      replacements: opened.replacements,
      biases: opened.biases,
    });
    out[name] = await score(model);
    model.dispose();
    await opened.source.close();
  }
  return {
    sequences: seqs.length,
    backend: 'cpu (@blastkit/models LlamaModel + @blastkit/eval perplexity)',
    perplexity: out,
  };
}

/**
 * One training step (forward, distillation loss, backward, AdamW update) of the dense model and of the BLAST
 * model as students, same batch and teacher logits, same engine, alternating so load changes hit both;
 * medians. Also the decoder linears alone (forward + backward), where the structures differ.
 */
async function stepTimes(
  ck: Llama2cCheckpoint,
  blastFolder: string,
  batch: number,
  seqLen: number,
  reps: number,
  log: (line: string) => void,
) {
  const teacher = await TfLlama.load(ck, ck.config, { trainable: false });
  const dense = await TfLlama.load(ck, ck.config);
  const opened = await openLlamaFolder(blastFolder);
  const blast = await TfLlama.load(opened.source, opened.config, { replacements: opened.replacements });
  await opened.source.close();
  const ids = Int32Array.from({ length: batch * seqLen }, (_, i) =>
    i % seqLen === 0 ? 1 : 300 + ((i * 7919) % 20000),
  );
  const loadBefore = load();
  try {
    const c = compareStepTimes({ dense, blast }, teacher, ids, batch, reps, (r) =>
      log(`  step-time round ${r}/${reps}`),
    );
    return {
      batch,
      seqLen,
      tokensPerStep: c.tokensPerStep,
      repeats: c.repeats,
      linearParameters: { dense: dense.linearParameterCount(), blast: blast.linearParameterCount() },
      linearFlopsPerToken: { dense: dense.linearFlopsPerToken(), blast: blast.linearFlopsPerToken() },
      stepSeconds: { dense: round(c.stepSeconds.dense), blast: round(c.stepSeconds.blast) },
      blastOverDenseStep: round(c.stepSeconds.blast / c.stepSeconds.dense),
      decoderLinearsForwardBackwardSeconds: {
        dense: round(c.linearSeconds.dense),
        blast: round(c.linearSeconds.blast),
      },
      blastOverDenseLinears: round(c.linearSeconds.blast / c.linearSeconds.dense),
      loadAverage: { before: loadBefore, after: load() },
    };
  } finally {
    teacher.dispose();
    dense.dispose();
    blast.dispose();
  }
}
