import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Backend,
  type BackendTensor,
  BlastMatrix,
  CpuBackend,
  DenseMatrix,
  LowRankMatrix,
  MonarchMatrix,
  openBackend as openBackendByName,
  Rng,
  type StructuredMatrix,
  Tensor,
} from '@blastkit/core';
import { SuiteUsageError } from '../errors.js';
import { round, timeAsync } from '../timing.js';

export interface KernelsOptions {
  /** One tiny shape and short timings, for the test that keeps this suite runnable. */
  quick?: boolean;
  /**
   * Backends to try: 'cpu', 'webgpu', 'tfjs' (every engine @blastkit/backend-tfjs lists) or one engine as
   * 'tfjs:wasm'. Default: cpu, webgpu, tfjs.
   */
  backends?: readonly string[];
  /**
   * Measure each backend in its own Node process (default true). tfjs runs one engine per process, and the
   * TensorFlow C API (tfjs-node) crashes a process where Mesa's llvmpipe (software WebGPU) is loaded; a crash
   * then marks that backend absent, with the reason, instead of ending the run.
   */
  isolate?: boolean;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** The four structures compared; dense is the baseline every ratio is taken against. */
export const KERNEL_METHODS = ['dense', 'blast', 'lowRank', 'monarch'] as const;
export type KernelMethod = (typeof KERNEL_METHODS)[number];

/** One layer shape and the ranks that give every structure about the same parameter count. */
export interface KernelShape {
  name: string;
  m: number;
  n: number;
  /** Blocks per side, for BLAST and Monarch. */
  blocks: number;
  /** BLAST rank: the reference's 50% rule ⌊mn / 2(m+n)⌋, rounded down to a multiple of 16. */
  blastRank: number;
  /** Low-rank rank: the largest whose r(m+n) parameters fit in BLAST's count. */
  lowRankRank: number;
  /** Monarch's per-block rank r′: the largest whose b·r′(m+n) parameters fit in BLAST's count. */
  monarchBlockRank: number;
  parameters: Record<KernelMethod, number>;
}

/** Where a backend came from and whether it ran; `software` marks a CPU emulating a GPU API. */
export interface KernelBackendInfo {
  name: string;
  available: boolean;
  /** What answered (adapter, engine), or why it is absent. */
  detail: string;
  software?: boolean;
}

export interface KernelRow {
  backend: string;
  layer: string;
  shape: [number, number];
  tokens: number;
  /** Set when this backend did not run this case, with the reason; the other fields are then absent. */
  skipped?: string;
  /** Median seconds per call (forward + read-back of the [N, m] output). */
  seconds?: Record<KernelMethod, number>;
  /** seconds / dense seconds, same backend, shape and tokens, same run: below 1 is faster than dense. */
  timeVsDense?: Record<Exclude<KernelMethod, 'dense'>, number>;
  /** Useful GFLOP/s: 2 × parameters × tokens / seconds. */
  gflops?: Record<KernelMethod, number>;
  /** What the outputs were checked against (see `reference` in the result). */
  checkedAgainst?: KernelReference;
  /**
   * max |y − y_ref| / max |y_ref|; null where the reference is this backend itself (the CPU backend on shapes
   * too large for the definition check).
   */
  maxRelativeError?: Record<KernelMethod, number | null>;
}

export interface KernelsResult {
  suite: 'kernels';
  node: string;
  quick: boolean;
  timing: string;
  reference: string;
  backends: KernelBackendInfo[];
  shapes: KernelShape[];
  results: KernelRow[];
}

/** The reference's rank rule (method.md §3): ⌊mn / 2(m+n)⌋ rounded down to a multiple of 16 (when ≥ 16). */
function referenceRank(m: number, n: number): number {
  const r = Math.floor((m * n) / (2 * (m + n)));
  return r >= 16 ? r - (r % 16) : Math.max(1, r);
}

/** Builds a shape entry with every structure at (at most) BLAST's parameter count. */
export function kernelShape(
  name: string,
  m: number,
  n: number,
  blocks: number,
  blastRank?: number,
): KernelShape {
  if (m % blocks !== 0 || n % blocks !== 0)
    throw new Error(`kernels: ${name}: ${blocks} blocks do not divide ${m}×${n}`);
  const r = blastRank ?? referenceRank(m, n);
  const blast = r * (m + n + blocks * blocks);
  const lowRankRank = Math.floor(blast / (m + n));
  const monarchBlockRank = Math.floor(blast / (blocks * (m + n)));
  if (monarchBlockRank < 1) throw new Error(`kernels: ${name}: BLAST's budget leaves Monarch no rank`);
  return {
    name,
    m,
    n,
    blocks,
    blastRank: r,
    lowRankRank,
    monarchBlockRank,
    parameters: {
      dense: m * n,
      blast,
      lowRank: lowRankRank * (m + n),
      monarch: blocks * monarchBlockRank * (m + n),
    },
  };
}

const FULL_SHAPES = (): KernelShape[] => [
  kernelShape('stories15M wq 288×288', 288, 288, 4),
  kernelShape('stories15M w1 768×288', 768, 288, 4),
  kernelShape('1024×1024', 1024, 1024, 16),
  // the reference's Llama-7B attention configuration (method.md §3, §6)
  kernelShape('Llama-7B attention 4096×4096', 4096, 4096, 16, 1024),
];
const QUICK_SHAPES = (): KernelShape[] => [kernelShape('tiny 64×32', 64, 32, 4, 8)];

/** A software adapter runs WGSL on the CPU at a few GFLOP/s: cases above this many dense FLOPs are skipped. */
const SOFTWARE_FLOP_LIMIT = 2.5e8;

export interface OpenBackend {
  info: KernelBackendInfo;
  backend?: Backend;
  close?: () => Promise<void>;
}

// a variable specifier: these packages are optional, so neither TypeScript nor a bundler should require them
async function importOptional(spec: string): Promise<Record<string, unknown>> {
  return (await import(spec)) as Record<string, unknown>;
}

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0];

const TFJS_PACKAGE = '@blastkit/backend-tfjs';

/**
 * Expands the requested names into the backends to measure: 'tfjs' becomes one 'tfjs:<engine>' per engine
 * @blastkit/backend-tfjs lists (resolved at run time: the package is optional); when it cannot be loaded or
 * has no `createBackend`, 'tfjs' stays as one absent backend with the reason.
 */
async function expandBackends(names: readonly string[]): Promise<(string | KernelBackendInfo)[]> {
  const out: (string | KernelBackendInfo)[] = [];
  for (const name of names) {
    if (['cpu', 'native', 'webgpu', 'cuda'].includes(name) || name.startsWith('tfjs:')) out.push(name);
    else if (name === 'tfjs') {
      let mod: Record<string, unknown>;
      try {
        mod = await importOptional(TFJS_PACKAGE);
      } catch (err) {
        out.push({ name, available: false, detail: `${TFJS_PACKAGE} not loadable: ${firstLine(err)}` });
        continue;
      }
      const engines = mod.TFJS_ENGINE_NAMES;
      if (typeof mod.createBackend !== 'function' || !Array.isArray(engines))
        out.push({
          name,
          available: false,
          detail: `${TFJS_PACKAGE} loads but exports no createBackend() / TFJS_ENGINE_NAMES (yet)`,
        });
      else out.push(...engines.map((e: string) => `tfjs:${e}`));
    } else
      throw new SuiteUsageError(
        `kernels: unknown backend '${name}' (known: cpu, native, webgpu, cuda, tfjs, tfjs:<engine>)`,
      );
  }
  return out;
}

// literal specifiers for WebGPU and CUDA, so a bundle of the bench takes those backends (and the CUDA addon)
// along; the others are optional and resolved at run time
const importBackendPackage = async (pkg: string): Promise<Record<string, unknown>> => {
  if (pkg === '@blastkit/backend-webgpu')
    return (await import('@blastkit/backend-webgpu')) as Record<string, unknown>;
  if (pkg === '@blastkit/backend-cuda')
    return (await import('@blastkit/backend-cuda')) as Record<string, unknown>;
  return importOptional(pkg);
};

/**
 * Opens one backend in this process through core's backend registry (`tfjs:<engine>` names one tfjs engine),
 * or says why it is absent. `detail` is the backend's describe().engine, the words every tool uses.
 */
export async function openBackend(name: string): Promise<OpenBackend> {
  try {
    const { backend, description } = await openBackendByName(name, importBackendPackage);
    return {
      info: {
        name,
        available: true,
        detail: description.engine,
        // only a GPU API can be served by a software adapter
        ...(description.device === 'gpu' ? { software: description.software } : {}),
      },
      backend,
      close: async () => backend.close?.(),
    };
  } catch (err) {
    return { info: { name, available: false, detail: firstLine(err) } };
  }
}

interface Case {
  shape: KernelShape;
  matrices: Record<KernelMethod, StructuredMatrix>;
}

function randomTensor(shape: number[], rng: Rng, std = 1): Tensor {
  const t = new Tensor(shape);
  rng.fillNormal(t.data, std);
  return t;
}

/** Gaussian factors for each structure (speed does not depend on the values, only on the shapes). */
function buildCase(shape: KernelShape, rng: Rng): Case {
  const { m, n, blocks: b } = shape;
  return {
    shape,
    matrices: {
      dense: new DenseMatrix(randomTensor([m, n], rng, 1 / Math.sqrt(n))),
      blast: BlastMatrix.random(m, n, b, shape.blastRank, rng),
      lowRank: new LowRankMatrix(
        randomTensor([m, shape.lowRankRank], rng, 1 / Math.sqrt(shape.lowRankRank)),
        randomTensor([n, shape.lowRankRank], rng, 1 / Math.sqrt(n)),
      ),
      monarch: new MonarchMatrix(
        randomTensor([b, m / b, b * shape.monarchBlockRank], rng, 1 / Math.sqrt(shape.monarchBlockRank)),
        randomTensor([b, b * shape.monarchBlockRank, n / b], rng, 1 / Math.sqrt(n / b)),
      ),
    },
  };
}

// building A from the definition costs up to m·n·rank multiply-adds and the float64 product m·n·N: below this
// limit every backend, the CPU included, is checked against that; above it, against the CPU backend
const DEFINITION_CHECK_LIMIT = 4e8;

/** How a case's outputs were checked: against the definition, or against the CPU backend's forward. */
export type KernelReference = 'definition' | 'cpu backend';

/** One decision per case, so every structure of a row is checked the same way. */
function referenceKind(shape: KernelShape, tokens: number): KernelReference {
  const cost = shape.m * shape.n * Math.max(shape.blastRank, shape.lowRankRank, tokens);
  return cost <= DEFINITION_CHECK_LIMIT ? 'definition' : 'cpu backend';
}

/**
 * The expected output of x·Aᵀ. 'definition': A from `toDense()` (built from the factors, not through any
 * forward kernel), multiplied out in float64 here; 'cpu backend': the CPU backend's structured forward.
 */
function referenceOutput(
  kind: KernelReference,
  a: StructuredMatrix,
  shape: KernelShape,
  x: Tensor,
): Float64Array | Float32Array {
  if (kind === 'cpu backend') return a.apply(x).data;
  const { m, n } = shape;
  const N = x.shape[0];
  const A = a.toDense().data;
  const y = new Float64Array(N * m);
  for (let t = 0; t < N; t++)
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += x.data[t * n + j] * A[i * n + j];
      y[t * m + i] = s;
    }
  return y;
}

function maxRelativeError(y: Tensor, ref: Float64Array | Float32Array): number {
  if (y.size !== ref.length) return Number.POSITIVE_INFINITY;
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < y.size; i++) {
    const d = Math.abs(y.data[i] - ref[i]);
    if (!(d <= maxDiff)) maxDiff = d; // NaN propagates as a failure
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
  }
  return maxRef > 0 ? maxDiff / maxRef : maxDiff;
}

/** The forward of one structure on one backend, on weights already uploaded there. */
function forward(be: Backend, method: KernelMethod, w: Record<string, BackendTensor>, x: BackendTensor) {
  switch (method) {
    case 'dense':
      return be.linear(x, w.W);
    case 'blast':
      return be.blastForward(x, w.B, w.C, w.D);
    case 'lowRank':
      return be.lowRankForward(x, w.U, w.V);
    case 'monarch':
      return be.monarchForward(x, w.L, w.R);
  }
}

function weightsOf(method: KernelMethod, a: StructuredMatrix): Record<string, Tensor> {
  return method === 'dense' ? { W: a.toDense() } : a.toNamedTensors();
}

const quickOf = (quick: boolean) => ({
  shapes: quick ? QUICK_SHAPES() : FULL_SHAPES(),
  tokenCounts: quick ? [1, 8] : [1, 256],
  minSeconds: quick ? 0.005 : 0.3,
});

/** Measures every case on one backend, in this process: what `runKernels` runs per backend (or per worker). */
export async function measureBackend(
  name: string,
  options: { quick?: boolean; log?: (line: string) => void } = {},
): Promise<{ info: KernelBackendInfo; results: KernelRow[] }> {
  const quick = options.quick ?? false;
  const log = options.log ?? (() => {});
  const { shapes, tokenCounts, minSeconds } = quickOf(quick);
  // the same seed in every process: each backend sees the same matrices and inputs
  const rng = new Rng(0);
  const cases = shapes.map((s) => buildCase(s, rng));
  const inputs = new Map(tokenCounts.map((N) => [N, shapes.map((s) => randomTensor([N, s.n], rng))]));
  const results: KernelRow[] = [];
  const { info, backend: be, close } = await openBackend(name);
  if (!be) {
    log(`${info.name}: absent (${info.detail})`);
    return { info, results };
  }
  log(`${info.name}: ${info.detail}${info.software ? ' (software)' : ''}`);
  try {
    for (const [ci, c] of cases.entries()) {
      const { shape } = c;
      const uploaded = Object.fromEntries(
        KERNEL_METHODS.map((method) => [
          method,
          Object.fromEntries(
            Object.entries(weightsOf(method, c.matrices[method])).map(([k, t]) => [k, be.upload(t)]),
          ),
        ]),
      ) as Record<KernelMethod, Record<string, BackendTensor>>;
      for (const N of tokenCounts) {
        const row: KernelRow = {
          backend: info.name,
          layer: shape.name,
          shape: [shape.m, shape.n],
          tokens: N,
        };
        results.push(row);
        const denseFlops = 2 * shape.m * shape.n * N;
        if (info.software && denseFlops > SOFTWARE_FLOP_LIMIT) {
          row.skipped = `software adapter: ${(denseFlops / 1e9).toFixed(2)} GFLOP per dense call is too slow to time`;
          log(`  ${shape.name} N=${N}: skipped (${row.skipped})`);
          continue;
        }
        const xHost = (inputs.get(N) as Tensor[])[ci];
        const x = be.upload(xHost);
        const seconds = {} as Record<KernelMethod, number>;
        const gflops = {} as Record<KernelMethod, number>;
        const errors = {} as Record<KernelMethod, number | null>;
        for (const method of KERNEL_METHODS) {
          const w = uploaded[method];
          // the checked call doubles as the warm-up (pipelines compiled, buffers pooled)
          const t0 = performance.now();
          const y = forward(be, method, w, x);
          const got = await be.download(y);
          be.dispose(y);
          const firstSeconds = (performance.now() - t0) / 1000;
          const kind = referenceKind(shape, N);
          row.checkedAgainst = kind;
          errors[method] =
            kind === 'cpu backend' && be instanceof CpuBackend
              ? null // the CPU backend cannot check itself
              : round(maxRelativeError(got, referenceOutput(kind, c.matrices[method], shape, xHost)));
          const t = await timeAsync(
            async () => {
              const out = forward(be, method, w, x);
              await be.download(out);
              be.dispose(out);
            },
            // a call slower than a second (software adapters) is timed once more, not three times
            { warmup: 0, minSeconds, minRepeats: firstSeconds > 1 ? 1 : 3 },
          );
          seconds[method] = round(t.median);
          gflops[method] = round((2 * shape.parameters[method] * N) / t.median / 1e9);
        }
        be.dispose(x);
        row.seconds = seconds;
        row.timeVsDense = {
          blast: round(seconds.blast / seconds.dense),
          lowRank: round(seconds.lowRank / seconds.dense),
          monarch: round(seconds.monarch / seconds.dense),
        };
        row.gflops = gflops;
        row.maxRelativeError = errors;
        log(
          `  ${shape.name} N=${N}: dense ${(seconds.dense * 1e3).toPrecision(3)} ms; ` +
            `BLAST ${row.timeVsDense.blast}×, low-rank ${row.timeVsDense.lowRank}×, Monarch ${row.timeVsDense.monarch}×`,
        );
      }
      for (const w of Object.values(uploaded)) for (const t of Object.values(w)) be.dispose(t);
    }
  } finally {
    await close?.();
  }
  return { info, results };
}

/** The built worker script (tests run this file from src/, where only the compiled worker exists in dist/). */
function workerScript(): string {
  const here = fileURLToPath(import.meta.url);
  return here.endsWith('.ts')
    ? join(dirname(here), '..', '..', 'dist', 'suites', 'kernels-worker.js')
    : join(dirname(here), 'kernels-worker.js');
}

/** Runs `measureBackend` in a child Node process; a crash there marks the backend absent with the reason. */
function measureInWorker(
  name: string,
  quick: boolean,
  log: (line: string) => void,
): Promise<{ info: KernelBackendInfo; results: KernelRow[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [workerScript(), name, quick ? '--quick' : '--full'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let result: { info: KernelBackendInfo; results: KernelRow[] } | undefined;
    let pending = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const message = JSON.parse(pending.slice(0, nl)) as { log?: string; result?: typeof result };
        pending = pending.slice(nl + 1);
        if (message.log !== undefined) log(message.log);
        if (message.result) result = message.result;
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (result) return resolve(result);
      // Dawn prints warnings on stderr; the last other line is the likeliest cause
      const last = stderr
        .split('\n')
        .filter((l) => l.trim() && !/^Warning:|^\s+at /.test(l))
        .pop();
      const how = signal ? `crashed (${signal})` : `exited with status ${code}`;
      const detail = `the measuring process ${how} before reporting${last ? `: ${last.trim()}` : ''}`;
      log(`${name}: absent (${detail})`);
      resolve({ info: { name, available: false, detail }, results: [] });
    });
  });
}

/**
 * Dense vs BLAST vs low-rank vs Monarch forwards, per backend and layer shape, at decode (N = 1) and prefill
 * (N = 256) sizes, all structures at about BLAST's parameter count, timed side by side in one run (each
 * backend in its own process, one after another), with every output checked against a reference. Backends
 * that do not load here are listed with the reason.
 */
export async function runKernels(options: KernelsOptions = {}): Promise<KernelsResult> {
  const quick = options.quick ?? false;
  const log = options.log ?? (() => {});
  const isolate = options.isolate ?? true;
  const backends: KernelBackendInfo[] = [];
  const results: KernelRow[] = [];
  for (const entry of await expandBackends(options.backends ?? ['cpu', 'native', 'webgpu', 'tfjs'])) {
    if (typeof entry !== 'string') {
      log(`${entry.name}: absent (${entry.detail})`);
      backends.push(entry);
      continue;
    }
    const measured = isolate
      ? await measureInWorker(entry, quick, log)
      : await measureBackend(entry, { quick, log });
    backends.push(measured.info);
    results.push(...measured.results);
  }
  return {
    suite: 'kernels',
    node: process.version,
    quick,
    timing:
      'median seconds per call (at least 3 calls, or 1 when a call takes over a second) after a checked warm-up call; a call is the forward plus the read-back of its [N, m] output (download is the Backend interface’s only sync point), the same for every structure',
    reference: `'definition': x·Aᵀ in float64 with A built from the factors by toDense() (no forward kernel involved), where m·n·max(rank, N) ≤ ${DEFINITION_CHECK_LIMIT.toExponential(0)} (every structure of a case is checked the same way); 'cpu backend': the CPU backend's forward (its own error is then null)`,
    backends,
    shapes: quickOf(quick).shapes,
    results,
  };
}
