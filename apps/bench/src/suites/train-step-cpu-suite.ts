/**
 * The train-step-cpu suite as data: what it measures, how it runs (./train-step-cpu.ts, imported only when it runs) and
 * how its result reads in the report.
 */
import { escapeHtml, formatNumber, percent } from '../report/format.js';
import { table } from '../report/table.js';
import { defineSuite, type Section } from './suite.js';
import type { runTrainStepCpu } from './train-step-cpu.js';

/** What a train-step-cpu run records (the type its renderer reads). */
export type TrainStepCpuResult = Awaited<ReturnType<typeof runTrainStepCpu>>;

function renderTrainStepCpu(r: TrainStepCpuResult): Section {
  const ratio = (v: number) => `${formatNumber(v)}×`;
  const parts = r.results.map((m) => {
    const t = table(
      ['decoder linears', 'parameters', 'linear FLOPs', 'step s', 'step vs dense', 'linears vs dense'],
      m.students.map((x) => [
        x.name,
        x.linearParameters,
        ratio(x.linearFlopsVsDense),
        x.stepSeconds,
        ratio(x.stepVsDense),
        ratio(x.linearsVsDense),
      ]),
    );
    const c = m.config;
    const note =
      `${m.model} (width ${c.hiddenSize}, MLP ${c.intermediateSize}, ${c.numLayers} layers, vocabulary ` +
      `${formatNumber(c.vocabSize)}), ${m.batch} × ${m.seqLen} tokens a step: the decoder linears are ` +
      `${percent(m.denseLinearShare)} of the dense step, so no structure can go below ${ratio(m.amdahlBound)}.`;
    return { html: `<p>${escapeHtml(note)}</p>${t.html}`, markdown: `${note}\n\n${t.markdown}` };
  });
  const head = `Training step (forward, distillation loss, backward, AdamW) on ${r.engine}, students at 50% of the decoder-linear parameters; target: ${r.target}.`;
  const names = Object.keys(r.layerSweep[0].vsDense);
  const sweep = table(
    ['width', ...names.map((n) => `${n} vs dense`), 'dense ms'],
    r.layerSweep.map((x) => [
      `${x.width}²`,
      ...names.map((n) => ratio(x.vsDense[n])),
      formatNumber(1000 * x.seconds.dense),
    ]),
  );
  const sweepNote = `One square linear, forward + backward on ${r.layerSweep[0].tokens} tokens, by width: where each structure starts to pay for itself on this engine.`;
  return {
    title: 'Training step time by structure',
    html: `<p>${escapeHtml(head)}</p>${parts.map((p) => p.html).join('')}<p>${escapeHtml(sweepNote)}</p>${sweep.html}`,
    markdown: [head, ...parts.map((p) => p.markdown), sweepNote, sweep.markdown].join('\n\n'),
  };
}

export const TRAIN_STEP_CPU_SUITE = defineSuite<TrainStepCpuResult>({
  name: 'train-step-cpu',
  description:
    'training step time, dense vs low-rank vs Monarch vs BLAST at 50% parameters: stories15M shapes and width 2048 (~10 min)',
  run: async ({ quick, log }) => await (await import('./train-step-cpu.js')).runTrainStepCpu({ quick, log }),
  render: renderTrainStepCpu,
});
