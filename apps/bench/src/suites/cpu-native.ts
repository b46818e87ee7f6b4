import { fetchAsset } from '@blastkit/assets';
import { type Backend, CpuBackend, Rng, type StructuredMatrix, Tensor } from '@blastkit/core';
import { blastFast, blastPrecGd } from '@blastkit/factorize';
import {
  compressLinears,
  generate,
  LLAMA_LINEAR_SUFFIXES,
  Llama2cCheckpoint,
  LlamaModel,
} from '@blastkit/models';
import { type AnchorResult, llama2cDecode, numpySgemm, onnxruntimeMatmul } from '../anchors/index.js';
import { round, time } from '../timing.js';

export interface CpuNativeOptions {
  /** Small shapes and few tokens: seconds, for the test that keeps the suite runnable. */
  quick?: boolean;
  /** Adds the factorization time-to-error (1024², minutes) and the 10,000-step memory run. */
  full?: boolean;
  log?: (line: string) => void;
}

interface NativeModule {
  createBackend(options?: { threads?: number }): Promise<Backend>;
}

/** The native backend on `threads` threads, or why it cannot be had. */
async function openNative(threads: number): Promise<{ backend?: Backend; reason?: string }> {
  try {
    const spec = '@blastkit/backend-native';
    const mod = (await import(spec)) as NativeModule;
    return { backend: await mod.createBackend({ threads }) };
  } catch (err) {
    return { reason: (err instanceof Error ? err.message : String(err)).split('\n')[0] };
  }
}

const seeded = (shape: number[], seed: number, scale = 1) => {
  const t = new Tensor(shape);
  new Rng(seed).fillNormal(t.data, scale);
  return t;
};

/** Median seconds of `op` on the backend, the result downloaded (so asynchronous backends are timed whole). */
async function timeOp(
  be: Backend,
  op: () => ReturnType<Backend['matmul']>,
  minSeconds = 0.5,
): Promise<number> {
  // every op of the CPU backends runs synchronously; download only copies the result back
  const t = time(
    () => {
      const y = op();
      be.dispose(y);
    },
    { warmup: 1, minSeconds, minRepeats: 3 },
  );
  return t.median;
}

/**
 * The native CPU backend against the anchors of issue 16, all measured in this run: GEMM GFLOP/s beside NumPy
 * (OpenBLAS) and the TypeScript reference, a dense 4096² layer beside onnxruntime-node, the BLAST layer beside
 * our dense one, stories15M greedy decode beside llama2.c's run.c, decode memory, and (with --full) the fast
 * solver's time to the faithful solver's error on 1024².
 */
export async function runCpuNative(options: CpuNativeOptions = {}) {
  const log = options.log ?? (() => {});
  const quick = options.quick ?? false;
  const one = await openNative(1);
  const two = await openNative(2);
  if (!one.backend || !two.backend)
    return {
      suite: 'cpu-native',
      available: false as const,
      reason: one.reason ?? two.reason,
      node: process.version,
    };
  const native1 = one.backend;
  const native2 = two.backend;
  const reference = new CpuBackend();

  // ---- GEMM ----------------------------------------------------------------------------------------
  const gemm = [];
  for (const n of quick ? [128] : [1024, 2048]) {
    log(`gemm ${n}³`);
    const a = seeded([n, n], 1);
    const b = seeded([n, n], 2);
    const flops = 2 * n ** 3;
    const ours = [];
    for (const be of [native1, native2]) {
      const A = be.upload(a);
      const B = be.upload(b);
      ours.push(flops / (await timeOp(be, () => be.matmul(A, B))) / 1e9);
      be.dispose(A);
      be.dispose(B);
    }
    // the reference at 2048³ alone would take minutes; its figure at 1024³ says enough
    const refGflops =
      n <= 1024 ? flops / (await timeOp(reference, () => reference.matmul(a, b), 0.2)) / 1e9 : null;
    const numpy1 = numpySgemm(n, 1);
    const numpy2 = numpySgemm(n, 2);
    gemm.push({
      n,
      native1Thread: round(ours[0]),
      native2Threads: round(ours[1]),
      threadScaling: round(ours[1] / ours[0]),
      reference: refGflops && round(refGflops),
      numpy1Thread: numpy1.measured ? round(numpy1.gflops) : numpy1,
      numpy2Threads: numpy2.measured ? round(numpy2.gflops) : numpy2,
      vsNumpy1Thread: numpy1.measured ? round(ours[0] / numpy1.gflops) : null,
      numpyLibrary: numpy1.measured ? numpy1.library : undefined,
    });
  }

  // ---- layers: dense vs onnxruntime, BLAST vs dense -------------------------------------------------
  const d = quick ? 256 : 4096;
  const blocks = 16;
  const rank = quick ? 64 : 1024;
  const weight = seeded([d, d], 3, 0.02);
  const B = seeded([blocks, d / blocks, rank], 4, 0.1);
  const C = seeded([blocks, rank, d / blocks], 5, 0.1);
  const D = seeded([blocks, blocks, rank], 6, 1);
  const layers = [];
  for (const [threads, be] of [
    [1, native1],
    [2, native2],
  ] as const) {
    const W = be.upload(weight);
    const [Bh, Ch, Dh] = [B, C, D].map((t) => be.upload(t));
    for (const N of [1, quick ? 16 : 256]) {
      log(`layers ${d}² N=${N} on ${threads} thread(s)`);
      const X = be.upload(seeded([N, d], 7));
      const dense = await timeOp(be, () => be.linear(X, W));
      const blast = await timeOp(be, () => be.blastForward(X, Bh, Ch, Dh));
      let ort: AnchorResult<{ seconds: number; gflops: number; library: string }> | undefined;
      if (N > 1) ort = await onnxruntimeMatmul(N, d, d, threads);
      layers.push({
        threads,
        N,
        denseMs: round(dense * 1e3),
        blastMs: round(blast * 1e3),
        blastVsDense: round(blast / dense),
        onnxruntimeMs: ort?.measured ? round(ort.seconds * 1e3) : ort,
        denseVsOnnxruntime: ort?.measured ? round(dense / ort.seconds) : undefined,
      });
      be.dispose(X);
    }
    for (const h of [W, Bh, Ch, Dh]) be.dispose(h);
  }
  const blastParameters = blocks * rank * (2 * (d / blocks) + blocks);

  // ---- stories15M greedy decode ----------------------------------------------------------------------
  const files = await fetchAsset('stories15M');
  const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
  const modules: string[] = [];
  for (let l = 0; l < ck.config.numLayers; l++)
    for (const s of LLAMA_LINEAR_SUFFIXES) modules.push(`model.layers.${l}.${s}`);
  const steps = quick ? 16 : 256;
  log('compressing stories15M to BLAST 50% (speed only: few solver steps)');
  const blast50 = (
    await compressLinears(ck, modules, {
      method: 'blast',
      ratio: 0.5,
      blocks: 16,
      steps: 2,
      backend: native2,
    })
  ).replacements;
  /** Greedy tokens/s after the first token (as run.c counts), and the tokens. */
  const decode = async (be: Backend, replacements: Map<string, StructuredMatrix>, maxTokens: number) => {
    const model = await LlamaModel.load(ck, ck.config, { backend: be, replacements });
    // a short warm-up, as run.c allocates its whole state before its clock starts: the buffer pool fills and
    // BLAST factors are packed for decode on first use
    await generate(model, [1], { maxTokens: 8, stopToken: -1 });
    let first = 0;
    const t0 = performance.now();
    const tokens = await generate(model, [1], {
      maxTokens,
      stopToken: -1,
      onToken: () => {
        if (first === 0) first = performance.now();
      },
    });
    const seconds = (performance.now() - first) / 1000;
    const total = (performance.now() - t0) / 1000;
    model.dispose();
    return { tokens, tokensPerSecond: (tokens.length - 1) / seconds, seconds: total };
  };
  const decodes: { model: string; threads: number; tokens: number; tokensPerSecond: number }[] = [];
  const runs: [string, Backend, Map<string, StructuredMatrix>, number][] = [
    ['native dense', native1, new Map(), 1],
    ['native BLAST-50%', native1, blast50, 1],
    ['native dense', native2, new Map(), 2],
    ['native BLAST-50%', native2, blast50, 2],
    ['reference dense', reference, new Map(), 1],
  ];
  let referenceTokens: number[] | undefined;
  let nativeTokens: number[] | undefined;
  for (const [name, be, replacements, threads] of runs) {
    log(`decode: ${name}, ${threads} thread(s)`);
    const r = await decode(be, replacements, name.startsWith('reference') ? Math.min(steps, 64) : steps);
    if (name === 'reference dense') referenceTokens = r.tokens;
    if (name === 'native dense' && threads === 1) nativeTokens = r.tokens;
    decodes.push({
      model: name,
      threads,
      tokens: r.tokens.length,
      tokensPerSecond: round(r.tokensPerSecond),
    });
  }
  const llama2c = [1, 2].map((threads) => ({
    threads,
    ...llama2cDecode(files['stories15M.bin'], files['tokenizer.bin'], steps, threads),
  }));
  const tps = (model: string, threads: number) =>
    decodes.find((x) => x.model === model && x.threads === threads)?.tokensPerSecond ?? Number.NaN;
  const llama1 = llama2c[0];

  // ---- memory: RSS over many decode steps (the cache restarts at the context length) ------------------
  log('memory: RSS over decode steps');
  const memorySteps = quick ? 300 : options.full ? 10_000 : 2_000;
  const model = await LlamaModel.load(ck, ck.config, { backend: native1, replacements: blast50 });
  const rss: number[] = [];
  let done = 0;
  while (done < memorySteps) {
    const chunk = Math.min(ck.config.maxPositionEmbeddings - 1, memorySteps - done);
    await generate(model, [1], { maxTokens: chunk, stopToken: -1 });
    done += chunk;
    rss.push(process.memoryUsage().rss);
  }
  model.dispose();
  const nativeMemory = (native1 as unknown as { memory?: unknown }).memory;
  await ck.close();

  // ---- factorization (--full): the fast solver to the faithful solver's error on 1024² ----------------
  let factorize:
    | {
        shape: number[];
        faithful: { seconds: number; relativeError: number };
        fastSecondsToFaithfulError: number | null;
        referenceFastSecondsToError: number;
      }
    | undefined;
  if (options.full) {
    log(
      'factorize 1024², b=16, r=256: faithful PrecGD, then the fast solver to its error (native, 2 threads)',
    );
    const A = seeded([1024, 1024], 7, 0.02);
    const settings = { numBlocks: 16, rank: 256, steps: 300, seed: 0, backend: native2 };
    const faithful = await blastPrecGd(A, settings);
    const fast = await blastFast(A, { ...settings, tolerance: 0, targetError: faithful.relativeError });
    const at = fast.history.find((h) => h.relativeError <= faithful.relativeError)?.seconds ?? null;
    factorize = {
      shape: [1024, 1024],
      faithful: { seconds: round(faithful.seconds), relativeError: round(faithful.relativeError) },
      fastSecondsToFaithfulError: at && round(at),
      // the committed factorize-cpu --full figure of the TypeScript reference backend (README), for the 10× target
      referenceFastSecondsToError: 60.5,
    };
  }

  const result = {
    suite: 'cpu-native',
    available: true as const,
    node: process.version,
    backends: {
      native1Thread: native1.describe(),
      native2Threads: native2.describe(),
      reference: reference.describe(),
    },
    gemm,
    layers: { dim: d, blocks, rank, blastParameterShare: round(blastParameters / (d * d)), results: layers },
    decode: {
      model: 'stories15M',
      steps,
      results: decodes,
      llama2c,
      nativeMatchesReference:
        referenceTokens !== undefined &&
        nativeTokens !== undefined &&
        referenceTokens.every((t, i) => nativeTokens?.[i] === t),
      denseVsLlama2c1Thread: llama1.measured ? round(tps('native dense', 1) / llama1.tokensPerSecond) : null,
      blastVsDense1Thread: round(tps('native BLAST-50%', 1) / tps('native dense', 1)),
      blastVsDense2Threads: round(tps('native BLAST-50%', 2) / tps('native dense', 2)),
      nativeVsReference: round(tps('native dense', 1) / tps('reference dense', 1)),
    },
    memory: {
      steps: memorySteps,
      rssMiB: rss.map((r) => round(r / 2 ** 20)),
      growth: round(rss.at(-1)! / rss[Math.min(1, rss.length - 1)] - 1),
      native: nativeMemory,
    },
    factorize,
  };
  await native1.close?.();
  await native2.close?.();
  return result;
}
