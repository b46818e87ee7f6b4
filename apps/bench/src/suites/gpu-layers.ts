import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchAsset } from '@blastkit/assets';
import {
  type Backend,
  type BackendTensor,
  BlastMatrix,
  CpuBackend,
  Rng,
  type StructuredMatrix,
  Tensor,
} from '@blastkit/core';
import {
  generate,
  LLAMA_LINEAR_SUFFIXES,
  Llama2cCheckpoint,
  type LlamaConfig,
  LlamaModel,
  type TensorSource,
} from '@blastkit/models';
import { randomLlamaSource } from '../scale/random-llama.js';
import { median, round } from '../timing.js';
import { type KernelBackendInfo, kernelShape, openBackend } from './kernels.js';

export interface GpuLayersOptions {
  /** Small shapes, short timings, no model: the size the tests run on a software adapter. */
  quick?: boolean;
  /** GPU backends to measure (default: webgpu and cuda; one that cannot run here is listed with why). */
  backends?: readonly string[];
  log?: (line: string) => void;
  /** The Python that runs the PyTorch reference (default: $BLASTKIT_PYTHON, ./.venv/bin/python, python3). */
  python?: string;
}

/** The layer shapes of the issue: Llama-7B attention and MLP with the reference's ranks, b = 16. */
const FULL_SHAPES = () => [
  kernelShape('Llama-7B attention 4096×4096', 4096, 4096, 16, 1024),
  kernelShape('Llama-7B MLP up 11008×4096', 11008, 4096, 16, 1488),
];
const QUICK_SHAPES = () => [kernelShape('quick 256×256', 256, 256, 4, 32)];
const FULL_TOKENS = [1, 16, 128, 2048];
const QUICK_TOKENS = [1, 16];

/** A backend that can wait for its queued work without reading anything back (WebGPU's `finish`). */
type Finishing = Backend & { finish?: () => Promise<void> };

const LAYER_METHODS = ['dense', 'blast', 'lowRank'] as const;
type LayerMethod = (typeof LAYER_METHODS)[number];

export interface GpuLayerRow {
  backend: string;
  layer: string;
  shape: [number, number];
  blocks: number;
  blastRank: number;
  lowRankRank: number;
  tokens: number;
  /** Seconds per call: device time of back-to-back calls, host encoding included (see `timing`). */
  seconds: Record<LayerMethod, number>;
  blastVsDense: number;
  lowRankVsDense: number;
  /** max |y − y_cpu| / max |y_cpu| against the CPU backend, where N ≤ 16 (null: not checked). */
  maxRelativeError: Record<LayerMethod, number | null>;
}

export interface TorchReference {
  available: boolean;
  /** Why not, when unavailable. */
  reason?: string;
  torch?: string;
  device?: string;
  timing?: string;
  results?: {
    layer: string;
    m: number;
    n: number;
    tokens: number;
    dtype: string;
    seconds: { dense: number; lowRank: number; blastReference: number };
  }[];
}

export interface Target {
  name: string;
  value: number | null;
  target: string;
  met: boolean | null;
  note?: string;
}

export interface GpuLayersResult {
  suite: 'gpu-layers';
  node: string;
  quick: boolean;
  timing: string;
  backends: KernelBackendInfo[];
  gemm: { backend: string; size: number; tiling: string; seconds: number; tflops: number }[];
  layers: GpuLayerRow[];
  model: {
    backend: string;
    model: string;
    note: string;
    decodeTokensPerSecond: { dense: number; blast: number };
    blastSpeedup: number;
  }[];
  torch: TorchReference;
  targets: Target[];
}

/**
 * Seconds per call of `issue` on a GPU backend: after a warm-up call, rounds of R back-to-back calls ended by
 * one wait for the device (R grown until a round lasts `minSeconds`), median of 5 rounds divided by R. This
 * is throughput with the host's encoding overlapped, as in a model's forward; no read-back per call.
 */
async function timeOnDevice(be: Finishing, issue: () => void, minSeconds: number): Promise<number> {
  const wait = async () => {
    if (be.finish) await be.finish();
    else throw new Error(`gpu-layers: backend ${be.name} cannot wait for its queue (no finish())`);
  };
  issue();
  await wait();
  let reps = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) issue();
    await wait();
    const t = (performance.now() - t0) / 1000;
    if (t >= minSeconds || reps >= 4096) break;
    reps = Math.min(4096, Math.max(reps * 2, Math.ceil((reps * minSeconds) / Math.max(t, 1e-6))));
  }
  const rounds: number[] = [];
  for (let k = 0; k < 5; k++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) issue();
    await wait();
    rounds.push((performance.now() - t0) / 1000 / reps);
  }
  return median(rounds);
}

function randomTensor(shape: number[], rng: Rng, std = 1): Tensor {
  const t = new Tensor(shape);
  rng.fillNormal(t.data, std);
  return t;
}

function maxRelativeError(got: Tensor, want: Tensor): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.size; i++) {
    const d = Math.abs(got.data[i] - want.data[i]);
    if (!(d <= diff)) diff = d;
    scale = Math.max(scale, Math.abs(want.data[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

/** The Python with torch to run the reference with, or why there is none. */
export function findTorchPython(explicit?: string): { python: string } | { reason: string } {
  const repoVenv = join(
    dirname(fileURLToPath(import.meta.url)),
    '..',
    '..',
    '..',
    '..',
    '.venv',
    'bin',
    'python',
  );
  const candidates = [
    explicit,
    process.env.BLASTKIT_PYTHON,
    existsSync(repoVenv) ? repoVenv : undefined,
    'python3',
  ];
  const tried: string[] = [];
  for (const python of candidates) {
    if (!python) continue;
    const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (probe.status === 0) return { python };
    tried.push(
      `${python}: ${(probe.error?.message ?? probe.stderr.trim().split('\n').pop() ?? '').slice(0, 120)}`,
    );
  }
  return { reason: `no Python with torch (${tried.join('; ')})` };
}

/** Runs python/torch_layers.py with the request on stdin; resolves to its JSON. */
function runTorch(python: string, request: object, log: (line: string) => void): Promise<TorchReference> {
  // dist/suites/ → apps/bench/python, or python/ beside a bundle (tools/gpu-bundle)
  const here = dirname(fileURLToPath(import.meta.url));
  const script = [
    join(here, '..', '..', 'python', 'torch_layers.py'),
    join(here, 'python', 'torch_layers.py'),
  ].find((p) => existsSync(p));
  if (!script)
    return Promise.resolve({ available: false, reason: `torch_layers.py not found beside ${here}` });
  return new Promise((resolve) => {
    const child = spawn(python, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c;
      for (const line of c.split('\n')) if (line.trim()) log(`  ${line.trim()}`);
    });
    child.on('error', (e) => resolve({ available: false, reason: `${python}: ${e.message}` }));
    child.on('close', (code) => {
      try {
        if (code !== 0) throw new Error(`exited with status ${code}: ${err.trim().split('\n').pop()}`);
        resolve({ available: true, ...(JSON.parse(out) as Omit<TorchReference, 'available'>) });
      } catch (e) {
        resolve({
          available: false,
          reason: `torch_layers.py ${e instanceof Error ? e.message : String(e)}`,
        });
      }
    });
    child.stdin.end(JSON.stringify(request));
  });
}

// stories15M's configuration (assets.md), for the random stand-in where the checkpoint cannot be fetched
export const STORIES15M_CONFIG: LlamaConfig = {
  modelType: 'llama',
  hiddenSize: 288,
  intermediateSize: 768,
  numLayers: 6,
  numHeads: 6,
  numKvHeads: 6,
  headDim: 48,
  vocabSize: 32000,
  maxPositionEmbeddings: 256,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  tieWordEmbeddings: true,
  bosTokenId: 1,
  eosTokenId: 2,
};

/** stories15M's weights, or seeded random ones of its shapes where the asset cannot be fetched (GPU machine). */
export async function stories15mSource(log: (line: string) => void): Promise<{
  source: TensorSource;
  config: LlamaConfig;
  weights: string;
}> {
  try {
    const files = await fetchAsset('stories15M');
    const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
    return { source: ck, config: ck.config, weights: 'stories15M (fetched)' };
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    log(`  stories15M not available (${why}): random weights of its shapes instead`);
    return {
      source: randomLlamaSource(STORIES15M_CONFIG),
      config: STORIES15M_CONFIG,
      weights: `random weights of stories15M's shapes (the checkpoint could not be fetched: ${why})`,
    };
  }
}

/** Greedy decode tokens/s of stories15M on `be`, dense and with every projection BLAST at 50% parameters. */
export async function modelDecode(be: Backend, tokens: number, log: (line: string) => void = () => {}) {
  const { source: ck, config, weights } = await stories15mSource(log);
  // speed does not depend on the factors' values: seeded random factors of the compressed shapes (b = 4,
  // the reference's 50% rank rule), so no solver runs here
  const rng = new Rng(0);
  const replacements = new Map<string, StructuredMatrix>();
  for (let l = 0; l < config.numLayers; l++)
    for (const s of LLAMA_LINEAR_SUFFIXES) {
      const name = `model.layers.${l}.${s}`;
      const [m, n] = ck.shapeOf(`${name}.weight`) as [number, number];
      const shape = kernelShape(name, m, n, 4);
      replacements.set(name, BlastMatrix.random(m, n, 4, shape.blastRank, rng));
    }
  const rates: Record<'dense' | 'blast', number> = { dense: 0, blast: 0 };
  for (const variant of ['dense', 'blast'] as const) {
    const model = await LlamaModel.load(ck, config, {
      backend: be,
      replacements: variant === 'blast' ? replacements : new Map(),
    });
    const runs: number[] = [];
    for (let k = 0; k < 3; k++) {
      let first = 0;
      let count = 0;
      // tokens/s from the first generated token on: decode steps only, not the prompt
      await generate(model, [1], {
        maxTokens: tokens + 1,
        stopToken: -1,
        onToken: () => {
          if (count++ === 0) first = performance.now();
        },
      });
      runs.push((count - 1) / ((performance.now() - first) / 1000));
    }
    rates[variant] = round(median(runs));
    log(`  stories15M ${variant}: ${rates[variant]} tokens/s`);
    model.dispose();
  }
  await ck.close();
  return { rates, weights };
}

type Tiling = { BM: number; BN: number; BK: number; TM: number; TN: number };
const tilingLabel = (t: Tiling) => `${t.BM}×${t.BN}×${t.BK}, ${t.TM}×${t.TN} per invocation`;

/**
 * The backends to time the GEMM on: `be` itself (its default tiling), and for WebGPU one more backend per
 * other register tiling the device can run (so a tiling can be chosen from measurements on the GPU).
 */
async function gemmVariants(
  name: string,
  be: Finishing,
): Promise<{ label: string; backend: Finishing; close: () => Promise<void> }[]> {
  const own = (be as { gemmTiling?: Tiling }).gemmTiling;
  const variants = [
    { label: own ? `${tilingLabel(own)} (default)` : 'default', backend: be, close: async () => {} },
  ];
  if (name !== 'webgpu' || !own) return variants;
  const mod = (await import('@blastkit/backend-webgpu')) as {
    WebGpuBackend: { create(o: { gemmTiling: Tiling }): Promise<Finishing> };
    GEMM_TILING_64: Tiling;
    GEMM_TILING_128: Tiling;
    GEMM_TILING_SMALL: Tiling;
  };
  for (const t of [mod.GEMM_TILING_64, mod.GEMM_TILING_128, mod.GEMM_TILING_SMALL]) {
    if (tilingLabel(t) === tilingLabel(own)) continue;
    try {
      const other = await mod.WebGpuBackend.create({ gemmTiling: t });
      variants.push({ label: tilingLabel(t), backend: other, close: async () => other.close?.() });
    } catch {
      // a tiling this device cannot run (too many invocations or too much workgroup memory)
    }
  }
  return variants;
}

/**
 * The GPU layer benchmark of issue 6: our dense vs BLAST vs low-rank forwards at Llama-7B layer shapes
 * (4096×4096 r = 1024, 11008×4096 r = 1488, b = 16) for N = 1, 16, 128, 2048 tokens, the GEMM's TFLOP/s at
 * 4096³ per register tiling, stories15M decode tokens/s dense vs BLAST, and the PyTorch reference (dense
 * F.linear, low-rank, the reference BLAST path; fp32 and fp16) on the same machine when Python with torch
 * is there, side by side in one run, with the issue's targets evaluated. `quick`: one small shape on any
 * adapter (the test's size).
 */
export async function runGpuLayers(options: GpuLayersOptions = {}): Promise<GpuLayersResult> {
  const quick = options.quick ?? false;
  const log = options.log ?? (() => {});
  const shapes = quick ? QUICK_SHAPES() : FULL_SHAPES();
  const tokenCounts = quick ? QUICK_TOKENS : FULL_TOKENS;
  const minSeconds = quick ? 0.02 : 0.25;
  const backends: KernelBackendInfo[] = [];
  const gemmRows: GpuLayersResult['gemm'] = [];
  const layers: GpuLayerRow[] = [];
  const model: GpuLayersResult['model'] = [];
  const cpu = new CpuBackend();
  for (const name of options.backends ?? ['webgpu', 'cuda']) {
    const opened = await openBackend(name);
    backends.push(opened.info);
    const be = opened.backend as Finishing | undefined;
    if (!be) {
      log(`${name}: absent (${opened.info.detail})`);
      continue;
    }
    log(`${name}: ${opened.info.detail}`);
    try {
      // GEMM throughput at 4096³ (quick: 256³): the backend's default, and on WebGPU every register tiling
      const size = quick ? 256 : 4096;
      for (const variant of await gemmVariants(name, be)) {
        const rng = new Rng(1);
        const g = variant.backend;
        const a = g.upload(randomTensor([size, size], rng));
        const b = g.upload(randomTensor([size, size], rng));
        const seconds = await timeOnDevice(g, () => g.dispose(g.matmul(a, b)), minSeconds);
        gemmRows.push({
          backend: name,
          size,
          tiling: variant.label,
          seconds: round(seconds),
          tflops: round((2 * size ** 3) / seconds / 1e12),
        });
        log(`  GEMM ${size}³ (${variant.label}): ${gemmRows.at(-1)?.tflops} TFLOP/s`);
        g.dispose(a);
        g.dispose(b);
        await variant.close();
      }

      for (const shape of shapes) {
        const { m, n, blocks } = shape;
        const wr = new Rng(2);
        const host = {
          W: randomTensor([m, n], wr, 1 / Math.sqrt(n)),
          ...BlastMatrix.random(m, n, blocks, shape.blastRank, wr).toNamedTensors(),
          U: randomTensor([m, shape.lowRankRank], wr, 1 / Math.sqrt(shape.lowRankRank)),
          V: randomTensor([n, shape.lowRankRank], wr, 1 / Math.sqrt(n)),
        } as Record<string, Tensor>;
        const w = Object.fromEntries(Object.entries(host).map(([k, t]) => [k, be.upload(t)])) as Record<
          string,
          BackendTensor
        >;
        const forward = (back: Backend, ws: Record<string, BackendTensor | Tensor>, x: BackendTensor) => ({
          dense: () => back.linear(x, ws.W),
          blast: () => back.blastForward(x, ws.B, ws.C, ws.D),
          lowRank: () => back.lowRankForward(x, ws.U, ws.V),
        });
        for (const N of tokenCounts) {
          const xHost = randomTensor([N, n], new Rng(3 + N));
          const x = be.upload(xHost);
          const calls = forward(be, w, x);
          const seconds = {} as Record<LayerMethod, number>;
          const errors = {} as Record<LayerMethod, number | null>;
          for (const method of LAYER_METHODS) {
            if (N <= 16) {
              const y = calls[method]();
              const want = forward(cpu, host, xHost)[method]() as Tensor;
              errors[method] = round(maxRelativeError(await be.download(y), want));
              be.dispose(y);
            } else errors[method] = null;
            seconds[method] = round(await timeOnDevice(be, () => be.dispose(calls[method]()), minSeconds));
          }
          be.dispose(x);
          const row: GpuLayerRow = {
            backend: name,
            layer: shape.name,
            shape: [m, n],
            blocks,
            blastRank: shape.blastRank,
            lowRankRank: shape.lowRankRank,
            tokens: N,
            seconds,
            blastVsDense: round(seconds.blast / seconds.dense),
            lowRankVsDense: round(seconds.lowRank / seconds.dense),
            maxRelativeError: errors,
          };
          layers.push(row);
          log(
            `  ${shape.name} N=${N}: dense ${(seconds.dense * 1e6).toPrecision(4)} µs, BLAST ${row.blastVsDense}×, low-rank ${row.lowRankVsDense}×`,
          );
        }
        for (const t of Object.values(w)) be.dispose(t);
      }
      if (!quick) {
        const { rates, weights } = await modelDecode(be, 64, log);
        model.push({
          backend: name,
          model: 'stories15M',
          note: `greedy decode tokens/s after the prompt, median of 3 runs of 64 tokens; weights: ${weights}; BLAST: every projection at 50% parameters (b = 4), seeded random factors (speed does not depend on their values)`,
          decodeTokensPerSecond: rates,
          blastSpeedup: round(rates.blast / rates.dense),
        });
      }
    } finally {
      await opened.close?.();
    }
  }

  const found = findTorchPython(options.python);
  let torch: TorchReference;
  if ('reason' in found) {
    torch = { available: false, reason: found.reason };
    log(`torch reference: absent (${found.reason})`);
  } else {
    log(`torch reference through ${found.python}`);
    torch = await runTorch(
      found.python,
      { shapes, tokens: tokenCounts, dtypes: ['float32', 'float16'], minSeconds },
      log,
    );
  }
  return {
    suite: 'gpu-layers',
    node: process.version,
    quick,
    timing:
      'seconds per call: after a warm-up call, rounds of back-to-back calls ended by one wait for the device (no read-back per call), median of 5 rounds; PyTorch: the same with CUDA events',
    backends,
    gemm: gemmRows,
    layers,
    model,
    torch,
    targets: softwareOnly(backends)
      ? // a CPU rasterizer shows that the kernels run, not what a GPU does: no GPU target is met or missed by it
        evaluateTargets(layers, gemmRows, model, torch, quick).map((t) => ({
          ...t,
          met: null,
          note: 'not measured (software adapter): the GPU API ran on a CPU rasterizer, not a GPU',
        }))
      : evaluateTargets(layers, gemmRows, model, torch, quick),
  };
}

/** Whether every backend that answered is a software adapter (so no figure here is a GPU figure). */
function softwareOnly(backends: readonly KernelBackendInfo[]): boolean {
  const answered = backends.filter((b) => b.available);
  return answered.length > 0 && answered.every((b) => b.software === true);
}

/** The issue's targets, each with the measured value and whether it is met (null: not measured here). */
export function evaluateTargets(
  layers: readonly GpuLayerRow[],
  gemm: GpuLayersResult['gemm'],
  model: GpuLayersResult['model'],
  torch: TorchReference,
  quick: boolean,
): Target[] {
  const targets: Target[] = [];
  const note = quick ? 'quick run: small shapes, not the target shapes' : undefined;
  const torchBlast = (layer: string, N: number) =>
    torch.results?.find((r) => r.layer === layer && r.tokens === N && r.dtype === 'float32')?.seconds
      .blastReference;
  const maxTokens = Math.max(...layers.map((r) => r.tokens), 0);
  for (const row of layers) {
    if (row.tokens === 1) {
      targets.push({
        name: `${row.backend} decode BLAST vs our dense, ${row.layer}`,
        value: row.blastVsDense,
        target: '≤ 0.6',
        met: row.blastVsDense <= 0.6,
        ...(note && { note }),
      });
      const ref = torchBlast(row.layer, 1);
      const speedup = ref === undefined ? null : round(ref / row.seconds.blast);
      targets.push({
        name: `${row.backend} decode BLAST speed-up over the PyTorch reference BLAST path (fp32), ${row.layer}`,
        value: speedup,
        target: '≥ 3',
        met: speedup === null ? null : speedup >= 3,
        note: speedup === null ? `no torch reference: ${torch.reason ?? 'no matching row'}` : note,
      });
    }
    if (row.tokens === 1 && row.backend === 'cuda') {
      // issue 8's decode target is for fp16 weights; this suite times the Backend interface, which is float32
      const us = round(row.seconds.blast * 1e6);
      targets.push({
        name: `cuda decode BLAST layer time (µs), ${row.layer}`,
        value: us,
        target: '≤ 20 (fp16 in the issue; float32 here)',
        met: us <= 20,
        ...(note && { note }),
      });
    }
    if (row.tokens === maxTokens && maxTokens > 1) {
      // issue 6 asks WebGPU for ≤ 1.0× dense at prefill, issue 8 asks CUDA for ≤ 0.8×
      const bound = row.backend === 'cuda' ? 0.8 : 1;
      targets.push({
        name: `${row.backend} prefill (N=${row.tokens}) BLAST vs our dense, ${row.layer}`,
        value: row.blastVsDense,
        target: `≤ ${bound.toFixed(1)}`,
        met: row.blastVsDense <= bound,
        ...(note && { note }),
      });
    }
  }
  for (const backend of new Set(gemm.map((g) => g.backend))) {
    const best = gemm.filter((g) => g.backend === backend).sort((x, y) => y.tflops - x.tflops)[0];
    targets.push({
      name: `${backend} GEMM ${best.size}³ TFLOP/s (fp32), best tiling: ${best.tiling}`,
      value: best.tflops,
      target: '≥ 33 (50% of the H100 fp32 peak)',
      met: best.tflops >= 33,
      ...(note && { note }),
    });
  }
  for (const m of model)
    targets.push({
      name: `${m.backend} stories15M decode tokens/s, BLAST 50% vs dense`,
      value: m.blastSpeedup,
      target: '≥ 1.3',
      met: m.blastSpeedup >= 1.3,
    });
  targets.push({
    name: 'factorizing 4096×4096 (r=1024, b=16) to the reference 300-step error, vs PyTorch on the same GPU',
    value: null,
    target: 'faster than the reference',
    met: null,
    note: 'not measured: the factorizer runs on the CPU backend (its small solves are CPU hand-offs on WebGPU)',
  });
  return targets;
}
