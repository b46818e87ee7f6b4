/**
 * The retrain-cpu suite as data: what it measures, how it runs (./retrain-cpu.ts, imported only when it runs) and
 * how its result reads in the report.
 */
import { escapeHtml, formatNumber, percent } from '../report/format.js';
import { table } from '../report/table.js';
import type { runRetrainCpu } from './retrain-cpu.js';
import { defineSuite, type Section } from './suite.js';

/** What a retrain-cpu run records (the type its renderer reads). */
export type RetrainCpuResult = Awaited<ReturnType<typeof runRetrainCpu>>;

function renderRetrainCpu(r: RetrainCpuResult): Section {
  const t = table(
    [
      'method',
      'linear params',
      'dense ppl',
      'compressed ppl',
      're-trained ppl',
      'gap closed',
      'gap closed (NLL)',
      'steps',
      'train s',
    ],
    r.runs.map((x) => [
      x.method,
      x.linearParameters,
      x.perplexity.dense,
      x.perplexity.compressed,
      x.perplexity.retrained,
      percent(x.perplexity.gapClosed),
      percent(x.perplexity.gapClosedNll),
      x.training.steps,
      x.training.trainingSeconds,
    ]),
  );
  const s = r.stepTime;
  const first = r.runs[0];
  const note =
    `Distillation from the dense model (KL on logits) on ${first.training.text}; scored on ${first.perplexity.text}. ` +
    `Training step (batch ${s.batch} × ${s.seqLen} tokens, forward + backward) on ${r.engine}: BLAST ` +
    `${formatNumber(s.blastOverDenseStep)}× the dense model's time (target ≤ ${r.targets.blastOverDenseStepTime}×; ` +
    'the training step time section shows why not at this width, and where it is met).';
  return {
    title: `Re-training after compression: ${r.model}`,
    html: `<p>${escapeHtml(note)}</p>${t.html}`,
    markdown: `${note}\n\n${t.markdown}`,
  };
}

export const RETRAIN_CPU_SUITE = defineSuite<RetrainCpuResult>({
  name: 'retrain-cpu',
  description:
    'stories15M BLAST-50% re-trained by distillation (<30 min): perplexity gap closed, step time vs dense',
  run: async ({ quick, full, log }) =>
    await (await import('./retrain-cpu.js')).runRetrainCpu({ quick, full, log }),
  render: renderRetrainCpu,
});
