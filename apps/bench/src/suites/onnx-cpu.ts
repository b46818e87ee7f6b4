import { availableParallelism } from 'node:os';
import { fetchAsset } from '@blastkit/assets';
import { BlastMatrix, DenseMatrix, Rng, type StructuredMatrix, Tensor } from '@blastkit/core';
import { LLAMA_LINEAR_SUFFIXES, Llama2cCheckpoint, llamaWeightShapes } from '@blastkit/models';
import {
  BLAST_MIXINGS,
  type BlastMixing,
  buildLlamaGraph,
  DataType,
  emitLinear,
  GraphBuilder,
  loadOnnxRuntime,
  OnnxCausalLm,
} from '@blastkit/onnx';

/** One model × thread count: decode and prefill through onnxruntime-node on the CPU. */
export interface OnnxModelRow {
  model: 'dense' | 'blast-50';
  threads: number;
  fileBytes: number;
  decodeTokensPerSecond: number;
  prefillTokens: number;
  prefillMs: number;
}

/** One layer shape × mixing × N: milliseconds per forward. */
export interface OnnxLayerRow {
  layer: string;
  form: 'dense' | `blast-${BlastMixing}`;
  tokens: number;
  threads: number;
  ms: number;
}

export interface OnnxCpuResult {
  suite: 'onnx-cpu';
  quick: boolean;
  runtime: string;
  cores: number;
  models: OnnxModelRow[];
  layers: OnnxLayerRow[];
  /** The fastest BLAST mixing per (N, threads), measured here. */
  fastestMixing: { tokens: number; threads: number; mixing: BlastMixing }[];
  notes: string[];
}

const BLOCKS = 4;

/**
 * stories15M exported to ONNX, dense vs BLAST at 50% of each linear's parameters, run by onnxruntime-node on
 * 1 and 2 threads: decode tokens/s and a 256-token prefill; and the 4096² BLAST layer (b = 16, r = 1024) in each
 * mixing formulation vs dense MatMul at N = 1 and 256. BLAST factors are random with the compressed model's
 * shapes: speed does not depend on their values.
 */
export async function runOnnxCpu(
  options: { quick?: boolean; log?: (line: string) => void } = {},
): Promise<OnnxCpuResult> {
  const quick = options.quick ?? false;
  const log = options.log ?? (() => {});
  const threadCounts = quick ? [1] : [1, 2];
  const rng = new Rng(0);
  const files = await fetchAsset('stories15M');
  const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
  const models: OnnxModelRow[] = [];
  try {
    const shapes = llamaWeightShapes(ck.config);
    const blast = new Map<string, StructuredMatrix>();
    for (let l = 0; l < ck.config.numLayers; l++)
      for (const suffix of LLAMA_LINEAR_SUFFIXES) {
        const module = `model.layers.${l}.${suffix}`;
        const [m, n] = shapes.get(`${module}.weight`) as [number, number];
        const r = Math.max(1, Math.floor((0.5 * m * n) / (m + n + BLOCKS * BLOCKS)));
        blast.set(module, BlastMatrix.random(m, n, BLOCKS, r, rng, 0.1));
      }
    const decodeSteps = quick ? 4 : 64;
    const prefillTokens = quick ? 16 : 256;
    for (const [name, replacements] of [
      ['dense', new Map()],
      ['blast-50', blast],
    ] as const) {
      const bytes = (await buildLlamaGraph(ck.config, ck, replacements)).graph.encode('llama');
      for (const threads of threadCounts) {
        const lm = await OnnxCausalLm.load(
          bytes,
          { numLayers: ck.config.numLayers, numKvHeads: ck.config.numKvHeads, headDim: ck.config.headDim },
          { threads },
        );
        const prompt = Array.from({ length: prefillTokens }, (_, i) => 100 + ((i * 37) % 5000));
        await lm.forward(prompt.slice(0, 8), lm.emptyCache()); // warm-up
        let t = performance.now();
        await lm.forward(prompt, lm.emptyCache());
        const prefillMs = performance.now() - t;
        let { cache } = await lm.forward([1], lm.emptyCache());
        t = performance.now();
        for (let i = 0; i < decodeSteps; i++) cache = (await lm.forward([200 + i], cache)).cache;
        const decodeTokensPerSecond = decodeSteps / ((performance.now() - t) / 1000);
        await lm.release();
        models.push({
          model: name,
          threads,
          fileBytes: bytes.byteLength,
          decodeTokensPerSecond,
          prefillTokens,
          prefillMs,
        });
        log(
          `onnx-cpu ${name} threads=${threads}: ${decodeTokensPerSecond.toFixed(1)} tok/s decode, prefill ${prefillTokens} in ${prefillMs.toFixed(1)} ms`,
        );
      }
    }
  } finally {
    await ck.close();
  }

  // the layer: 4096² b = 16 r = 1024 (quick: 1024² b = 16 r = 256)
  const size = quick ? 1024 : 4096;
  const rank = size / 4;
  const A = BlastMatrix.random(size, size, 16, rank, rng);
  const W = new Tensor([size, size]);
  rng.fillNormal(W.data, 1 / Math.sqrt(size));
  const ort = await loadOnnxRuntime();
  const layers: OnnxLayerRow[] = [];
  const layer = `${size}x${size} b=16 r=${rank}`;
  for (const tokens of [1, 256])
    for (const threads of threadCounts) {
      const forms: [OnnxLayerRow['form'], StructuredMatrix, BlastMixing | undefined][] = [
        ['dense', new DenseMatrix(W), undefined],
        ...BLAST_MIXINGS.map(
          (m) => [`blast-${m}`, A, m] as [OnnxLayerRow['form'], StructuredMatrix, BlastMixing],
        ),
      ];
      for (const [form, matrix, mixing] of forms) {
        const g = new GraphBuilder();
        const x = g.input('x', DataType.FLOAT, [1, tokens, size]);
        const lead = g.op('Slice', [g.op('Shape', [x]), g.ints([0]), g.ints([2])]);
        g.output(emitLinear(g, { x, lead }, matrix, 'layer', mixing ? { mixing } : {}), 'y', DataType.FLOAT, [
          1,
          tokens,
          size,
        ]);
        const session = await ort.InferenceSession.create(g.encode('layer'), {
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
        });
        const feed = {
          x: new ort.Tensor('float32', new Float32Array(tokens * size).fill(0.01), [1, tokens, size]),
        };
        for (let i = 0; i < 2; i++) await session.run(feed);
        const reps = quick ? 3 : tokens === 1 ? 100 : 8;
        const t = performance.now();
        for (let i = 0; i < reps; i++) await session.run(feed);
        const ms = (performance.now() - t) / reps;
        await session.release();
        layers.push({ layer, form, tokens, threads, ms });
        log(`onnx-cpu layer ${layer} ${form} N=${tokens} threads=${threads}: ${ms.toFixed(3)} ms`);
      }
    }
  const fastestMixing = [1, 256].flatMap((tokens) =>
    threadCounts.map((threads) => {
      const rows = layers.filter((r) => r.tokens === tokens && r.threads === threads && r.form !== 'dense');
      const best = rows.reduce((a, b) => (b.ms < a.ms ? b : a));
      return { tokens, threads, mixing: best.form.slice('blast-'.length) as BlastMixing };
    }),
  );
  return {
    suite: 'onnx-cpu',
    quick,
    runtime: 'onnxruntime-node 1.31.1 (CPU execution provider, graph optimization level all)',
    cores: availableParallelism(),
    models,
    layers,
    fastestMixing,
    notes: [
      `BLAST-50%: every linear of stories15M with b = ${BLOCKS}, r = ⌊0.5·mn/(m+n+b²)⌋, random factors (timing only)`,
      'decode: one token at a time through the KV cache after a 1-token prefill; prefill: one run over all tokens',
    ],
  };
}
