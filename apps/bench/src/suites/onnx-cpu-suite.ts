/**
 * The onnx-cpu suite as data: what it measures, how it runs (./onnx-cpu.ts, imported only when it runs) and how
 * its result reads in the report.
 */
import { escapeHtml, formatNumber } from '../report/format.js';
import { table } from '../report/table.js';
import type { OnnxCpuResult } from './onnx-cpu.js';
import { defineSuite, type Section } from './suite.js';

const MIB = 2 ** 20;
const times = (x: number | undefined) => (x === undefined ? '–' : `${formatNumber(x)}×`);

function renderOnnxCpu(r: OnnxCpuResult): Section {
  const title = 'ONNX exports on onnxruntime-node, CPU (issue 20)';
  const models = table(
    [
      'model',
      'threads',
      'dense tok/s',
      'its tok/s',
      'decode speed-up',
      `dense prefill ms`,
      'its ms',
      'prefill time',
    ],
    r.modelRatios.map((x) => {
      // older results have one BLAST model and no model field
      const model = x.model ?? 'blast-50';
      const row = (m: string) => r.models.find((y) => y.model === m && y.threads === x.threads);
      const blocks = model.startsWith('blast-50-b4') ? 4 : r.blastBlocks;
      return [
        `BLAST-50% (b = ${blocks}${model.endsWith('-unfused') ? ', unfused' : ''})`,
        x.threads,
        row('dense')?.decodeTokensPerSecond ?? '–',
        row(model)?.decodeTokensPerSecond ?? '–',
        times(x.decodeSpeedup),
        row('dense')?.prefillMs ?? '–',
        row(model)?.prefillMs ?? '–',
        times(x.prefillTimeRatio),
      ];
    }),
  );
  const ceilings = table(
    [
      'phase',
      'dense linears ms',
      'head ms',
      'dense total ms',
      'linears share',
      'BLAST at half cost',
      'linear cost the target needs',
    ],
    (r.ceilings ?? []).map((c) => [
      c.phase === 'decode' ? 'decode (per token)' : 'prefill',
      c.linearMs,
      c.headMs,
      c.totalMs,
      `${formatNumber(100 * c.linearShare)}%`,
      times(c.atHalfCost),
      c.costForTarget <= 0 ? 'none (below 0)' : `${formatNumber(100 * c.costForTarget)}% of dense`,
    ]),
  );
  const cases = [...new Set(r.layers.map((l) => `${l.tokens}/${l.threads}`))];
  const forms = [...new Set(r.layers.map((l) => l.form))];
  const layers = table(
    ['N', 'threads', ...forms.map((f) => `${f} ms`), 'fastest BLAST vs dense', 'warm: fastest vs dense'],
    cases.map((c) => {
      const [tokens, threads] = c.split('/').map(Number);
      const rows = r.layers.filter((l) => l.tokens === tokens && l.threads === threads);
      const best = r.fastestMixing.find((f) => f.tokens === tokens && f.threads === threads);
      return [
        tokens,
        threads,
        ...forms.map((f) => rows.find((l) => l.form === f)?.ms ?? '–'),
        best ? `${best.mixing} ${times(best.vsDense)}` : '–',
        best?.warmMixing ? `${best.warmMixing} ${times(best.warmVsDense)}` : '–',
      ];
    }),
  );
  const stackCases = [...new Set((r.stacks ?? []).map((x) => `${x.width}/${x.threads}`))];
  const stacks = table(
    [
      'decoder layer',
      'b',
      'threads',
      'dense tok/s',
      'by-length tok/s',
      'per-block tok/s',
      'decode speed-up (default)',
      'dense prefill ms',
      'prefill time (default)',
    ],
    stackCases.map((c) => {
      const [width, threads] = c.split('/').map(Number);
      const rows = r.stacks.filter((x) => x.width === width && x.threads === threads);
      const form = (f: string) => rows.find((x) => x.form === f);
      const auto = r.stackAuto.find((a) => a.width === width)?.mixing ?? '';
      return [
        rows[0].stack,
        rows[0].blocks,
        threads,
        form('dense')?.decodeTokensPerSecond ?? '–',
        form('by-length')?.decodeTokensPerSecond ?? '–',
        form('per-block')?.decodeTokensPerSecond ?? '–',
        `${times(form(auto)?.decodeSpeedup)} (${auto})`,
        form('dense')?.prefillMs ?? '–',
        `${times(form(auto)?.prefillTimeRatio)} (${auto})`,
      ];
    }),
  );
  const dtypes = [...new Set(r.sizes.map((s) => s.dtype))];
  const quality = table(
    [
      'model',
      ...dtypes.map((d) => `${d} MiB`),
      ...dtypes.map((d) => `${d} vs dense fp32`),
      ...dtypes.map((d) => `${d} perplexity`),
    ],
    (['dense', 'blast-50'] as const).map((m) => {
      const size = (d: string) => r.sizes.find((s) => s.model === m && s.dtype === d);
      const ppl = (d: string) =>
        r.perplexity.rows.find((p) => p.model === m && p.dtype === d)?.perplexity ?? '–';
      return [
        m === 'dense' ? 'dense' : 'BLAST-50%',
        ...dtypes.map((d) => formatNumber((size(d)?.folderBytes ?? Number.NaN) / MIB)),
        ...dtypes.map((d) => times(size(d)?.vsDenseFp32)),
        ...dtypes.map(ppl),
      ];
    }),
  );
  const targets = table(
    ['target (issue 20)', 'wanted', 'measured', 'met'],
    r.targets.map((t) => [t.what, t.target, `${formatNumber(t.measured)}×`, t.met ? 'yes' : 'no']),
  );
  const p = r.perplexity;
  const prose = [
    `${r.runtime}; ${r.cores} cores, load average ${r.loadAverage[0]} before and ${r.loadAverage[1]} after (a shared machine: ratios move between runs). stories15M exports written with the ${r.modelMixing} mixing, b = ${r.blastBlocks}.`,
    `Perplexity on ${p.text}, window ${p.protocol.window}, stride ${p.protocol.stride} (the fp32 exports on the blastkit ${p.blastkit[0]?.backend ?? ''} backend: ${p.blastkit.map((b) => `${b.model} ${formatNumber(b.perplexity)}`).join(', ')}).`,
    ...r.notes,
  ];
  const parts = [
    [
      `stories15M exported (fp32), BLAST-50% against dense (b = 4: random factors, speed only), ${r.models[0]?.prefillTokens ?? ''}-token prefill:`,
      models,
    ],
    [
      `One layer, ${r.layers[0]?.layer ?? ''}, per BLAST mixing formulation (ms per forward, caches evicted before each call):`,
      layers,
    ],
    ...(r.stacks?.length
      ? ([
          [
            'Where the export pays off: one Llama decoder layer per width (random weights, vocabulary 256), BLAST-50% against dense, 256-token prefill:',
            stacks,
          ],
        ] as const)
      : []),
    ['Folder bytes on disk and perplexity per dtype (perplexity reported, not asserted):', quality],
    ['The issue’s targets, as measured in this run:', targets],
    ...(r.ceilings?.length
      ? ([
          [
            'What the model-level targets can reach: the dense export’s decoder linears, profiled (1 thread):',
            ceilings,
          ],
        ] as const)
      : []),
  ] as const;
  return {
    title,
    html: [
      ...parts.map(([caption, t]) => `<p>${escapeHtml(caption)}</p>\n${t.html}`),
      `<ul>${prose.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>`,
    ].join('\n'),
    markdown: [
      ...parts.map(([caption, t]) => `${caption}\n\n${t.markdown}`),
      prose.map((n) => `- ${n}`).join('\n'),
    ].join('\n\n'),
  };
}

export const ONNX_CPU_SUITE = defineSuite<OnnxCpuResult>({
  name: 'onnx-cpu',
  description:
    'stories15M exported to ONNX, dense vs BLAST-50%, on onnxruntime-node (1 and 2 threads): decode tok/s, 256-token prefill, folder sizes and perplexity per dtype; 4096² BLAST layer per mixing formulation vs dense MatMul, N = 1 and 256; one Llama decoder layer at widths 768, 2048 and 4096 dense vs BLAST-50% (~8 min)',
  run: async ({ quick, log }) => await (await import('./onnx-cpu.js')).runOnnxCpu({ quick, log }),
  render: renderOnnxCpu,
});
