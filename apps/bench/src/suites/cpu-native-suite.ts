/**
 * The cpu-native suite as data: what it measures, how it runs (./cpu-native.ts, imported only when it runs) and
 * how its result reads in the report.
 */
import { escapeHtml, formatNumber, percent } from '../report/format.js';
import { type Cell, table } from '../report/table.js';
import type { runCpuNative } from './cpu-native.js';
import { defineSuite, type Section } from './suite.js';

/** What a cpu-native run records (the type its renderer reads). */
export type CpuNativeResult = Awaited<ReturnType<typeof runCpuNative>>;

/** An anchor's figure, or why it was not measured (kept short in a table cell). */
const anchorCell = (v: unknown, unit = ''): Cell =>
  typeof v === 'number'
    ? `${formatNumber(v)}${unit}`
    : (v as { reason?: string })?.reason
      ? 'not measured'
      : '–';

function renderCpuNative(r: CpuNativeResult): Section {
  const title = 'Native CPU backend against the anchors (issue 16)';
  if (!r.available) {
    const text = `Not measured: the native backend is not available here (${r.reason}).`;
    return { title, html: `<p>${escapeHtml(text)}</p>`, markdown: text };
  }
  const gemm = table(
    [
      'n (square GEMM)',
      'native 1 thread GFLOP/s',
      'native 2 threads',
      'NumPy 1 thread',
      'NumPy 2 threads',
      'native/NumPy 1 thread',
      'TS reference',
    ],
    r.gemm.map((g) => [
      `${g.n}³`,
      g.native1Thread,
      g.native2Threads,
      anchorCell(g.numpy1Thread),
      anchorCell(g.numpy2Threads),
      g.vsNumpy1Thread === null ? '–' : `${formatNumber(g.vsNumpy1Thread)}×`,
      g.reference ?? '–',
    ]),
  );
  const layers = table(
    ['threads', 'N', 'dense ms', 'BLAST ms', 'BLAST vs dense', 'onnxruntime ms', 'dense vs onnxruntime'],
    r.layers.results.map((x) => [
      x.threads,
      x.N,
      x.denseMs,
      x.blastMs,
      `${formatNumber(x.blastVsDense)}×`,
      x.onnxruntimeMs === undefined ? '–' : anchorCell(x.onnxruntimeMs),
      x.denseVsOnnxruntime === undefined ? '–' : `${formatNumber(x.denseVsOnnxruntime)}×`,
    ]),
  );
  const d = r.decode;
  const decode = table(
    ['model', 'threads', 'tokens', 'tokens/s'],
    [
      ...d.results.map((x) => [x.model, x.threads, x.tokens, x.tokensPerSecond]),
      ...d.llama2c.map((a) => [
        'llama2.c run.c (dense)',
        a.threads,
        d.steps,
        a.measured ? formatNumber(a.tokensPerSecond) : 'not measured',
      ]),
    ],
  );
  const notMeasured = [
    ...r.gemm.flatMap((g) => [g.numpy1Thread, g.numpy2Threads]),
    ...r.layers.results.map((x) => x.onnxruntimeMs),
    ...d.llama2c,
  ]
    .filter((v) => v && typeof v === 'object' && v.measured === false)
    .map((v) => (v as { reason: string }).reason);
  const notes = [
    `Engines: ${r.backends.native1Thread.engine}; ${r.backends.native2Threads.engine}; the reference is ${r.backends.reference.engine}.`,
    `Layer ${r.layers.dim}², BLAST b=${r.layers.blocks}, r=${r.layers.rank} (${percent(r.layers.blastParameterShare)} of the dense parameters); dense is x·Wᵀ, onnxruntime-node runs the same MatMul on the same thread count.`,
    `stories15M greedy decode, ${d.steps} tokens, tokens/s after the first (as run.c counts): dense native vs llama2.c on 1 thread ${d.denseVsLlama2c1Thread === null ? 'not measured' : `${formatNumber(d.denseVsLlama2c1Thread)}×`}; BLAST-50% (decoder linears, 16 blocks) vs dense native ${formatNumber(d.blastVsDense1Thread)}× on 1 thread, ${formatNumber(d.blastVsDense2Threads)}× on 2; native vs the TypeScript reference ${formatNumber(d.nativeVsReference)}×; native greedy tokens ${d.nativeMatchesReference ? 'equal' : 'DIFFER FROM'} the reference's.`,
    `Memory: RSS over ${r.memory.steps} decode steps ${r.memory.rssMiB[Math.min(1, r.memory.rssMiB.length - 1)]} → ${r.memory.rssMiB.at(-1)} MiB (${percent(r.memory.growth)}).`,
    ...(r.factorize
      ? [
          `Factorization 1024², b=16, r=256 on native (2 threads): faithful PrecGD ${r.factorize.faithful.seconds} s to error ${r.factorize.faithful.relativeError}; the fast solver reaches it in ${r.factorize.fastSecondsToFaithfulError ?? '–'} s (the TypeScript reference's fast solver: ${r.factorize.referenceFastSecondsToError} s).`,
        ]
      : []),
    ...[...new Set(notMeasured)].map((why) => `Not measured: ${why}.`),
  ];
  return {
    title,
    html: `${gemm.html}${layers.html}${decode.html}${notes.map((n) => `<p>${escapeHtml(n)}</p>`).join('')}`,
    markdown: [gemm.markdown, layers.markdown, decode.markdown, ...notes].join('\n\n'),
  };
}

export const CPU_NATIVE_SUITE = defineSuite<CpuNativeResult>({
  name: 'cpu-native',
  description:
    'native CPU backend vs NumPy/OpenBLAS GEMM, onnxruntime-node MatMul, llama2.c decode and our dense layers; the targets of issue 16 (--full adds factorization and a 10,000-step memory run)',
  run: async ({ quick, full, log }) =>
    await (await import('./cpu-native.js')).runCpuNative({ quick, full, log }),
  render: renderCpuNative,
});
