/**
 * The models-cpu suite as data: what it measures, how it runs (./models-cpu.ts, imported only when it runs) and
 * how its result reads in the report.
 */
import { table } from '../report/table.js';
import type { runModelsCpu } from './models-cpu.js';
import { defineSuite, type Section } from './suite.js';

/** What a models-cpu run records (the type its renderer reads). */
export type ModelsCpuResult = Awaited<ReturnType<typeof runModelsCpu>>;

function renderModelsCpu(r: ModelsCpuResult): Section {
  const t = table(
    ['model', 'linear params', 'prefill s (128 tok)', 'vs dense', 'decode tok/s', 'vs dense'],
    r.results.map((x) => [
      x.model,
      x.linearParameters,
      x.prefillSeconds,
      x.prefillVsDense,
      x.decodeTokensPerSecond,
      x.decodeSpeedupVsDense,
    ]),
  );
  return { title: `Inference speed: ${r.model} on ${r.backend}`, html: t.html, markdown: t.markdown };
}

export const MODELS_CPU_SUITE = defineSuite<ModelsCpuResult>({
  name: 'models-cpu',
  description: 'stories15M dense vs BLAST vs low-rank: prefill time and decode tokens/s (fetches stories15M)',
  run: async ({ quick }) => await (await import('./models-cpu.js')).runModelsCpu({ quick }),
  render: renderModelsCpu,
});
