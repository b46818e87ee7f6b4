import { cpus, loadavg } from 'node:os';
import {
  BlastMatrix,
  DenseMatrix,
  LowRankMatrix,
  MonarchMatrix,
  type StructuredMatrix,
  Tensor,
} from '@blastkit/core';
import { LLAMA_LINEAR_SUFFIXES } from '@blastkit/models';
import {
  compareStepTimes,
  rankForParameters,
  type StructuredKind,
  selectTrainEngine,
  structuredLinearFromMatrix,
  TfLlama,
} from '@blastkit/train';
import * as tf from '@tensorflow/tfjs-core';
import { llamaShape, RandomLlamaSource, randomData } from '../random-llama.js';
import { median, round } from '../timing.js';

export interface TrainStepCpuOptions {
  /** Tiny models, one round: checks the suite runs, measures nothing worth reporting. */
  quick?: boolean;
  log?: (line: string) => void;
}

/** A student: how every decoder linear is structured, at half its dense parameters. */
interface StudentSpec {
  name: string;
  /** @blastkit/train's kind (its spelling: 'lowrank'). */
  kind: StructuredKind;
  blocks?: number;
}

const STUDENTS: StudentSpec[] = [
  { name: 'dense', kind: 'dense' },
  { name: 'lowrank', kind: 'lowrank' },
  { name: 'monarch-b4', kind: 'monarch', blocks: 4 },
  { name: 'blast-b4', kind: 'blast', blocks: 4 },
  { name: 'blast-b16', kind: 'blast', blocks: 16 },
];

/**
 * The models timed. Step time does not depend on the weights' values, so each is random (seeded):
 * - stories15M's exact shapes (width 288, 6 layers, vocabulary 32,000) — the model issue 7's re-training
 *   uses. Its 32,000 × 288 head and the loss over the vocabulary cost more than all its decoder linears.
 * - a Llama-shaped decoder stack at width 2048 (MLP 5632, 2 layers) with a 256-entry vocabulary, so the step
 *   is the decoder layers' (attention, norms and all): the regime of the paper's models, where a 32-layer
 *   Llama-7B keeps 98% of its parameters in decoder linears. (With a 32,000 vocabulary a 2-layer slice would
 *   spend over half its step in the head, which a real 32-layer model does not.)
 */
const MODELS = [
  { name: 'stories15M shapes', config: llamaShape(288, 768, 6, 6, 32000), batch: 2, seqLen: 256, repeats: 5 },
  {
    name: 'Llama-shaped decoder stack',
    config: llamaShape(2048, 5632, 2, 16, 256),
    batch: 2,
    seqLen: 256,
    repeats: 3,
  },
];
const QUICK_MODELS = [
  { name: 'tiny', config: llamaShape(64, 128, 1, 2, 256), batch: 1, seqLen: 16, repeats: 1 },
];

/** Square layers of the sweep: where a structure starts to pay for itself in a training step. */
const SWEEP_WIDTHS = [288, 1024, 2048, 4096];
const QUICK_SWEEP_WIDTHS = [64];
const SWEEP_TOKENS = 512;

/**
 * One d×d linear of every student kind, forward and backward (input and factor gradients) on 512 tokens,
 * kinds alternating round by round; medians.
 */
function layerSweep(widths: number[], repeats: number, log: (line: string) => void) {
  return widths.map((d) => {
    const layers = STUDENTS.map((s, i) =>
      s.kind === 'dense'
        ? structuredLinearFromMatrix(
            new DenseMatrix(new Tensor([d, d], randomData(d * d, 1 / Math.sqrt(d), 50 + i))),
          )
        : structuredLinearFromMatrix(randomStructured(s, d, d, 50 + i)),
    );
    // a variable, so the backward computes dx as well, as inside a model
    const x = tf.variable(tf.randomNormal([SWEEP_TOKENS, d], 0, 1, 'float32', 3), true);
    const times: number[][] = STUDENTS.map(() => []);
    try {
      for (let rep = 0; rep <= repeats; rep++)
        layers.forEach((layer, i) => {
          const t0 = performance.now();
          tf.tidy(() => {
            const { grads } = tf.variableGrads(
              () => tf.sum(layer.apply(x as tf.Tensor2D)) as tf.Scalar,
              [...layer.variables, x],
            );
            for (const g of Object.values(grads)) g.dataSync();
          });
          if (rep > 0) times[i].push((performance.now() - t0) / 1000);
        });
    } finally {
      x.dispose();
      for (const l of layers) l.dispose();
    }
    const dense = median(times[0]);
    log(`  sweep ${d}²: dense ${(1000 * dense).toFixed(1)} ms`);
    return {
      width: d,
      tokens: SWEEP_TOKENS,
      seconds: Object.fromEntries(STUDENTS.map((s, i) => [s.name, round(median(times[i]))])),
      vsDense: Object.fromEntries(STUDENTS.map((s, i) => [s.name, round(median(times[i]) / dense)])),
    };
  });
}

/** A random structured matrix of `spec`'s kind for an m×n linear, at most half its parameters. */
function randomStructured(spec: StudentSpec, m: number, n: number, seed: number): StructuredMatrix {
  const budget = (m * n) / 2;
  const r = rankForParameters(spec.kind, n, m, budget, spec.blocks);
  const t = (shape: number[], i: number, std = 0.05) =>
    new Tensor(
      shape,
      randomData(
        shape.reduce((a, b) => a * b, 1),
        std,
        seed * 7 + i,
      ),
    );
  const b = spec.blocks ?? 1;
  switch (spec.kind) {
    case 'lowrank':
      return new LowRankMatrix(t([m, r], 0), t([n, r], 1));
    case 'monarch':
      return new MonarchMatrix(t([b, m / b, b * r], 0), t([b, b * r, n / b], 1));
    case 'blast':
      return new BlastMatrix(t([b, m / b, r], 0), t([b, r, n / b], 1), t([b, b, r], 2, 1));
    default:
      throw new Error(`no structured matrix for '${spec.kind}'`);
  }
}

/**
 * Training-step time of Llama-shaped models whose every decoder linear is dense, low-rank, Monarch or BLAST
 * at half the dense parameters: forward, distillation loss against fixed logits, backward and AdamW update,
 * the students alternating round by round on the same batch and engine (`compareStepTimes`), medians. Also
 * the decoder linears alone, and the bound Amdahl's law sets: the ratio a student would reach if its
 * decoder linears cost nothing (everything else in the step — embedding, attention, norms, the head and the
 * loss over the vocabulary — is the same for every student).
 */
export async function runTrainStepCpu(options: TrainStepCpuOptions = {}) {
  const log = options.log ?? (() => {});
  const engine = await selectTrainEngine();
  const backendTfjs = (await import('@blastkit/backend-tfjs').catch(() => ({}))) as {
    currentTfjsEngine?: () => { detail: string } | undefined;
  };
  const engineDetail = backendTfjs.currentTfjsEngine?.()?.detail ?? engine.name;
  log(`engine: ${engineDetail}`);
  const models = options.quick ? QUICK_MODELS : MODELS;
  const results = [];
  const loadBefore = loadavg().map((x) => round(x));
  for (const spec of models) {
    const c = spec.config;
    const source = new RandomLlamaSource(c, 1);
    const students: Record<string, TfLlama> = {};
    const linearParameters: Record<string, number> = {};
    const linearFlopsPerToken: Record<string, number> = {};
    try {
      for (const [i, s] of STUDENTS.entries()) {
        const replacements = new Map<string, StructuredMatrix>();
        if (s.kind !== 'dense')
          for (let l = 0; l < c.numLayers; l++)
            for (const [j, suffix] of LLAMA_LINEAR_SUFFIXES.entries()) {
              const [m, n] = source.shapeOf(`model.layers.${l}.${suffix}.weight`);
              replacements.set(
                `model.layers.${l}.${suffix}`,
                randomStructured(s, m, n, 1000 * i + 10 * l + j),
              );
            }
        students[s.name] = await TfLlama.load(source, c, { replacements });
        linearParameters[s.name] = students[s.name].linearParameterCount();
        linearFlopsPerToken[s.name] = students[s.name].linearFlopsPerToken();
      }
      const ids = Int32Array.from({ length: spec.batch * spec.seqLen }, (_, i) =>
        i % spec.seqLen === 0 ? 1 : 3 + ((i * 7919) % (c.vocabSize - 3)),
      );
      log(`${spec.name}: timing ${STUDENTS.length} students, ${spec.repeats} rounds after a warm-up…`);
      const t = compareStepTimes(students, students.dense, ids, spec.batch, spec.repeats, (r) =>
        log(`  round ${r}/${spec.repeats}`),
      );
      const dense = t.stepSeconds.dense;
      const denseLinears = t.linearSeconds.dense;
      results.push({
        model: spec.name,
        config: {
          hiddenSize: c.hiddenSize,
          intermediateSize: c.intermediateSize,
          numLayers: c.numLayers,
          numHeads: c.numHeads,
          vocabSize: c.vocabSize,
        },
        batch: spec.batch,
        seqLen: spec.seqLen,
        repeats: spec.repeats,
        /** Share of the dense step spent in the decoder linears (forward + backward, timed alone). */
        denseLinearShare: round(denseLinears / dense),
        /** The best step-time ratio any structure can reach: its decoder linears free, the rest unchanged. */
        amdahlBound: round(Math.max(0, dense - denseLinears) / dense),
        students: STUDENTS.map((s) => ({
          name: s.name,
          kind: s.kind,
          blocks: s.blocks ?? null,
          linearParameters: linearParameters[s.name],
          parametersVsDense: round(linearParameters[s.name] / linearParameters.dense),
          linearFlopsVsDense: round(linearFlopsPerToken[s.name] / linearFlopsPerToken.dense),
          stepSeconds: round(t.stepSeconds[s.name]),
          stepVsDense: round(t.stepSeconds[s.name] / dense),
          linearsSeconds: round(t.linearSeconds[s.name]),
          linearsVsDense: round(t.linearSeconds[s.name] / denseLinears),
        })),
      });
    } finally {
      for (const m of Object.values(students)) m.dispose();
    }
  }
  log('one layer, forward + backward, by width…');
  const sweep = layerSweep(options.quick ? QUICK_SWEEP_WIDTHS : SWEEP_WIDTHS, options.quick ? 1 : 5, log);
  return {
    suite: 'train-step-cpu',
    engine: engine.name,
    engineDetail,
    node: process.version,
    cpus: cpus().length,
    loadAverage: { before: loadBefore, after: loadavg().map((x) => round(x)) },
    target: 'training step of the BLAST model ≤ 0.8× the dense model’s at 50% parameters, same engine',
    results,
    /** One square linear at each width, forward + backward on 512 tokens: time vs dense per structure. */
    layerSweep: sweep,
  };
}
