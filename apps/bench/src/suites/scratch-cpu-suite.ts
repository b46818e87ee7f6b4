/**
 * The scratch-cpu suite as data: what it measures, how it runs (./scratch-cpu.ts, imported only when it runs) and
 * how its result reads in the report.
 */
import { escapeHtml, formatNumber, percent } from '../report/format.js';
import { table } from '../report/table.js';
import type { runScratchCpu } from './scratch-cpu.js';
import { defineSuite, type Section } from './suite.js';

/** What a scratch-cpu run records (the type its renderer reads). */
export type ScratchCpuResult = Awaited<ReturnType<typeof runScratchCpu>>;

// a figure a run could not measure (a model that did not finish): a dash, not 'null' or 0%
const orDash = (v: number | null, show: (v: number) => string): string => (v === null ? '–' : show(v));

function renderScratchCpu(r: ScratchCpuResult): Section {
  const vit = table(
    ['layers', 'parameters', 'linear FLOPs vs dense', 'test accuracy', 's/step'],
    r.vit.results.map((x) => [
      x.kind,
      x.parameters,
      percent(x.blockLinearFlopsVsDense),
      orDash(x.testAccuracy, (v) => percent(v, 2)),
      x.secondsPerStep,
    ]),
  );
  const vitNote = `ViT trained from scratch on ${r.vit.data}, ${r.vit.training.steps} steps of ${r.vit.training.batchSize} (${formatNumber(r.vit.training.epochs)} epochs; ${r.engine.name}): BLAST ${orDash(r.vit.blastMinusDensePoints, formatNumber)} points from dense (target: within 0.5).`;
  const gpt = r.gpt && {
    note: `Small GPT trained from scratch on ${r.gpt.data}; ${r.gpt.tokenizer}; ${r.gpt.training.steps} steps.`,
    table: table(
      ['layers', 'parameters', 'validation loss', 'perplexity (bytes)', 's/step'],
      r.gpt.results.map((x) => [x.kind, x.parameters, x.validationLoss, x.perplexity, x.secondsPerStep]),
    ),
  };
  return {
    title: `Training from scratch with structured layers (project-trained models)${r.full ? ', --full: the 10-epoch ViT' : ''}`,
    html: `<p>${escapeHtml(vitNote)}</p>${vit.html}${gpt ? `<p>${escapeHtml(gpt.note)}</p>${gpt.table.html}` : ''}`,
    markdown: [vitNote, vit.markdown, ...(gpt ? [gpt.note, gpt.table.markdown] : [])].join('\n\n'),
  };
}

export const SCRATCH_CPU_SUITE = defineSuite<ScratchCpuResult>({
  name: 'scratch-cpu',
  description:
    'ViT on MNIST (6 epochs) and GPT on text trained from scratch: dense vs low-rank vs Monarch vs BLAST (~45 min; --full: ViT dense vs BLAST for 10 epochs)',
  run: async ({ quick, full, log }) =>
    await (await import('./scratch-cpu.js')).runScratchCpu({ quick, full, log }),
  render: renderScratchCpu,
});
