import * as tf from '@tensorflow/tfjs-core';
import type { TfLlama } from '../llama/tf-llama.js';
import { AdamW } from '../optim.js';
import { distillationLoss } from './loss.js';

/** Median seconds of one training step per student, measured side by side. */
export interface StepTimeComparison {
  tokensPerStep: number;
  repeats: number;
  /** Forward, distillation loss against fixed teacher logits, backward and AdamW update. */
  stepSeconds: Record<string, number>;
  /** The decoder linears alone, forward + backward (factor and input gradients) on inputs of their real shapes. */
  linearSeconds: Record<string, number>;
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[s.length >> 1];
}

/**
 * Times a training step of each student on the same batch and the same teacher logits, alternating between
 * them round by round (so a change in machine load hits all alike); the first round is a warm-up. The update
 * uses a negligible learning rate: timing must not depend on where training goes.
 */
export function compareStepTimes(
  students: Record<string, TfLlama>,
  teacher: TfLlama,
  ids: Int32Array,
  batch: number,
  repeats: number,
  onRound?: (round: number) => void,
): StepTimeComparison {
  const teacherLogits = teacher.logits(ids, batch);
  const names = Object.keys(students);
  const optimizers = Object.fromEntries(names.map((n) => [n, new AdamW(students[n].trainableVariables())]));
  const steps: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const linears: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  try {
    for (let round = 0; round <= repeats; round++) {
      for (const name of names) {
        const m = students[name];
        const vars = m.trainableVariables();
        let t0 = performance.now();
        const { value, grads } = tf.variableGrads(
          () =>
            distillationLoss(
              m.hidden(ids, batch),
              { weight: m.headWeight, transposed: m.headTransposed },
              teacherLogits,
              null,
              { temperature: 1 },
            ),
          vars,
        );
        value.dataSync();
        optimizers[name].step(
          vars.map((v) => grads[v.name]),
          1e-12,
        );
        vars[0].dataSync();
        const stepSeconds = (performance.now() - t0) / 1000;
        value.dispose();
        for (const g of Object.values(grads)) g.dispose();
        t0 = performance.now();
        for (const layer of m.layers)
          for (const lin of Object.values(layer.linears)) {
            // the input is a variable too: a layer's backward in a step yields dx as well as the factors'
            const x = tf.variable(tf.ones([ids.length, lin.inFeatures]), true);
            tf.tidy(() => {
              const g = tf.variableGrads(
                () => tf.sum(lin.apply(x as tf.Tensor2D)) as tf.Scalar,
                [...lin.variables, x],
              );
              for (const v of Object.values(g.grads)) v.dataSync();
            });
            x.dispose();
          }
        const linearSeconds = (performance.now() - t0) / 1000;
        if (round > 0) {
          steps[name].push(stepSeconds);
          linears[name].push(linearSeconds);
        }
      }
      onRound?.(round);
    }
  } finally {
    teacherLogits.dispose();
    for (const o of Object.values(optimizers)) o.dispose();
  }
  return {
    tokensPerStep: ids.length,
    repeats,
    stepSeconds: Object.fromEntries(names.map((n) => [n, median(steps[n])])),
    linearSeconds: Object.fromEntries(names.map((n) => [n, median(linears[n])])),
  };
}
