// Times the BLAST mixing formulations (BLAST_MIXINGS) against a dense MatMul on one 4096² layer (b = 16,
// r = 1024) in onnxruntime-node's CPU execution provider, at N = 1 (decode) and N = 256 (prefill), with 1 and
// 2 intra-op threads: the measurement that picks `emitLinear`'s default mixing. Not a test (timings only).
// Run after building: node scripts/mixing-bench.mjs [size] [reps-scale]
import { availableParallelism, loadavg } from 'node:os';
import { BlastMatrix, DenseMatrix, Rng, Tensor } from '@blastkit/core';
import { BLAST_MIXINGS, DataType, emitLinear, GraphBuilder, loadOnnxRuntime } from '../dist/index.js';

const size = Number(process.argv[2] ?? 4096);
const scale = Number(process.argv[3] ?? 1);
const blocks = 16;
const rank = size / 4;
const rng = new Rng(1);
const A = BlastMatrix.random(size, size, blocks, rank, rng);
const W = new Tensor([size, size]);
rng.fillNormal(W.data, 1 / Math.sqrt(size));
const ort = await loadOnnxRuntime();
console.log(
  `layer ${size}x${size} b=${blocks} r=${rank}; ${availableParallelism()} cores, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);

const forms = [['dense', new DenseMatrix(W), undefined], ...BLAST_MIXINGS.map((m) => [m, A, m])];
const rows = [];
for (const tokens of [1, 256])
  for (const threads of [1, 2]) {
    const input = new Float32Array(tokens * size);
    new Rng(2).fillNormal(input, 1);
    const feed = { x: new ort.Tensor('float32', input, [1, tokens, size]) };
    const sessions = [];
    for (const [form, matrix, mixing] of forms) {
      const g = new GraphBuilder();
      const x = g.input('x', DataType.FLOAT, [1, tokens, size]);
      const lead = g.op('Slice', [g.op('Shape', [x]), g.ints([0]), g.ints([2])]);
      const y = emitLinear(g, { x, lead }, matrix, 'layer', mixing ? { mixing } : {});
      g.output(y, 'y', DataType.FLOAT, [1, tokens, size]);
      const session = await ort.InferenceSession.create(g.encode('layer'), {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
      });
      for (let i = 0; i < 3; i++) await session.run(feed);
      sessions.push({ form, session, times: [] });
    }
    // round-robin over the formulations, then the median of each: on a shared machine the load drifts, and
    // interleaving spreads it over all of them alike while the median drops stalled runs
    const reps = Math.max(3, Math.round((tokens === 1 ? 60 : 8) * scale));
    for (let i = 0; i < reps; i++)
      for (const s of sessions) {
        const t = performance.now();
        await s.session.run(feed);
        s.times.push(performance.now() - t);
      }
    const line = [];
    for (const s of sessions) {
      await s.session.release();
      s.times.sort((a, b) => a - b);
      const ms = s.times[Math.floor(s.times.length / 2)];
      rows.push({ form: s.form, tokens, threads, ms });
      line.push(`${s.form} ${ms.toFixed(2)} ms`);
    }
    const dense = rows.find((r) => r.tokens === tokens && r.threads === threads && r.form === 'dense').ms;
    const blast = rows.filter((r) => r.tokens === tokens && r.threads === threads && r.form !== 'dense');
    const best = blast.reduce((a, b) => (b.ms < a.ms ? b : a));
    console.log(
      `N=${tokens} threads=${threads}: ${line.join(', ')}; fastest ${best.form} (${(best.ms / dense).toFixed(2)}x dense)`,
    );
  }
console.log(JSON.stringify(rows));
