/**
 * The gpu-layers suite as data: what it measures, how it runs (./gpu-layers.ts, imported only when it runs) and
 * how its result reads in the report.
 */
import { escapeHtml, formatNumber } from '../report/format.js';
import { table } from '../report/table.js';
import type { GpuLayerRow, GpuLayersResult } from './gpu-layers.js';
import { defineSuite, type Section } from './suite.js';

function renderGpuLayers(r: GpuLayersResult): Section {
  const us = (s: number | undefined) => (s === undefined ? '–' : Number((s * 1e6).toPrecision(3)));
  const torchRow = (x: GpuLayerRow, dtype: string) =>
    r.torch.results?.find((t) => t.layer === x.layer && t.tokens === x.tokens && t.dtype === dtype)?.seconds;
  const layers = table(
    [
      'backend',
      'layer',
      'N',
      'dense µs',
      'BLAST µs',
      'BLAST / dense',
      'low-rank / dense',
      'torch dense µs (fp32)',
      'torch BLAST ref. µs (fp32)',
      'torch BLAST ref. µs (fp16)',
      'max rel. error',
    ],
    r.layers.map((x) => {
      const errors = Object.values(x.maxRelativeError as Record<string, number | null>);
      return [
        x.backend,
        x.layer,
        x.tokens,
        us(x.seconds.dense),
        us(x.seconds.blast),
        `${formatNumber(x.blastVsDense)}×`,
        `${formatNumber(x.lowRankVsDense)}×`,
        us(torchRow(x, 'float32')?.dense),
        us(torchRow(x, 'float32')?.blastReference),
        us(torchRow(x, 'float16')?.blastReference),
        errors.some((e) => e === null) ? '–' : Math.max(...(errors as number[])),
      ];
    }),
  );
  const gemm = table(
    ['backend', 'size', 'tiling', 'TFLOP/s'],
    r.gemm.map((g) => [g.backend, `${g.size}³`, g.tiling, g.tflops]),
  );
  const model = table(
    ['backend', 'model', 'dense tok/s', 'BLAST tok/s', 'speed-up'],
    r.model.map((m) => [
      m.backend,
      m.model,
      m.decodeTokensPerSecond.dense,
      m.decodeTokensPerSecond.blast,
      `${formatNumber(m.blastSpeedup)}×`,
    ]),
  );
  const targets = table(
    ['target', 'measured', 'goal', 'met'],
    r.targets.map((t) => [
      t.name,
      t.value ?? '–',
      t.target,
      t.met === null ? `not measured${t.note ? `: ${t.note}` : ''}` : t.met ? 'yes' : 'no',
    ]),
  );
  const devices = r.backends
    .map((b) => `${b.name}: ${b.available ? b.detail : `absent (${b.detail})`}`)
    .join('; ');
  const torchLine = r.torch.available
    ? `PyTorch ${r.torch.torch} on ${r.torch.device}`
    : `PyTorch reference absent: ${r.torch.reason}`;
  const note = `${r.quick ? 'Quick run (small shapes). ' : ''}${devices}. ${torchLine}. ${r.timing}.`;
  const parts = [layers, gemm, ...(r.model.length ? [model] : []), targets];
  return {
    title: 'GPU layers: our kernels vs dense vs the PyTorch reference',
    html: `<p>${escapeHtml(note)}</p>${parts.map((p) => p.html).join('')}`,
    markdown: `${note}\n\n${parts.map((p) => p.markdown).join('\n\n')}`,
  };
}

export const GPU_LAYERS_SUITE = defineSuite<GpuLayersResult>({
  name: 'gpu-layers',
  description:
    'GPU (WebGPU): dense vs BLAST vs low-rank at Llama-7B layer shapes, N = 1…2048, GEMM TFLOP/s, stories15M decode, beside the PyTorch reference; the targets of issue 6',
  run: async ({ quick, log, backends }) =>
    await (await import('./gpu-layers.js')).runGpuLayers({ quick, log, backends }),
  render: renderGpuLayers,
});
