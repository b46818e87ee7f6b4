// Matmul throughput of each TensorFlow.js engine, plus one dense-vs-BLAST layer, through the built package.
// Not part of the test run (timings vary with the machine and its load). Each engine runs in a child process of
// its own: tfjs has one active engine per process.
//
//   pnpm --filter @blastkit/backend-tfjs run bench                      # cpu, wasm, tfjs-node (when staged)
//   node bench/matmul.mjs --engines wasm,tfjs-node --sizes 1024,2048 --reps 5 --out results.json
import { execFileSync } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};

if (opt('child') === undefined) {
  const engines = opt('engines', 'cpu,wasm,tfjs-node').split(',');
  const results = [];
  for (const engine of engines) {
    process.stderr.write(`bench: ${engine}…\n`);
    try {
      const out = execFileSync(
        process.execPath,
        [fileURLToPath(import.meta.url), '--child', engine, ...args.filter((a) => a !== '--child')],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
      );
      results.push(JSON.parse(out));
    } catch (err) {
      results.push({ engine, error: String(err.message ?? err).split('\n')[0] });
    }
  }
  const rows = results.flatMap((r) =>
    r.error
      ? [`${r.engine.padEnd(10)} unavailable: ${r.error}`]
      : [
          ...r.matmul.map(
            (m) =>
              `${r.engine.padEnd(10)} matmul ${m.size}³ ${m.gflops.toFixed(1).padStart(7)} GFLOP/s (median of ${m.reps}, ${m.ms.toFixed(1)} ms)`,
          ),
          `${r.engine.padEnd(10)} layer ${r.layer.shape}: dense ${r.layer.denseMs.toFixed(1)} ms, BLAST ${r.layer.blastMs.toFixed(1)} ms (${(r.layer.denseMs / r.layer.blastMs).toFixed(2)}× faster; ${r.layer.flopRatio.toFixed(2)}× fewer FLOPs)`,
        ],
  );
  console.log(rows.join('\n'));
  const file = opt('out');
  if (file) {
    // atomic: a reader never sees half a file
    writeFileSync(`${file}.tmp`, `${JSON.stringify({ date: new Date().toISOString(), results }, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
  }
} else {
  const engine = opt('child');
  const { TfjsBackend, currentTfjsEngine } = await import('../dist/index.js');
  const { Rng, Tensor } = await import('@blastkit/core');
  const be = await TfjsBackend.create({ engine });
  const tf = currentTfjsEngine().tf;
  const reps = Number(opt('reps', 3));
  // the plain-JavaScript engine runs near 1 GFLOP/s: 2048³ would take ~20 s a run
  const sizes = opt('sizes', engine === 'cpu' ? '1024' : '1024,2048')
    .split(',')
    .map(Number);
  const rng = new Rng(1);
  const rand = (shape, std = 1) => {
    const t = new Tensor(shape);
    rng.fillNormal(t.data, std);
    return t;
  };
  /** Median wall time of `fn` (download included: tfjs may queue work), after one warm-up run. */
  async function time(fn) {
    const once = async () => {
      const t0 = performance.now();
      const y = fn();
      await be.download(y);
      const ms = performance.now() - t0;
      be.dispose(y);
      return ms;
    };
    await once();
    const ms = [];
    for (let i = 0; i < reps; i++) ms.push(await once());
    return ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)];
  }
  const matmul = [];
  for (const n of sizes) {
    const a = be.upload(rand([n, n]));
    const b = be.upload(rand([n, n]));
    const ms = await time(() => be.matmul(a, b));
    matmul.push({ size: n, ms, gflops: (2 * n ** 3) / ms / 1e6, reps });
    be.dispose(a);
    be.dispose(b);
  }
  // one 2048×2048 layer at about half the parameters: dense x·Wᵀ against BLAST with b = 16, r = 512
  const [m, n, b, r, N] = [2048, 2048, 16, 512, 128];
  const x = be.upload(rand([N, n]));
  const W = be.upload(rand([m, n], 0.02));
  const f = [rand([b, m / b, r]), rand([b, r, n / b]), rand([b, b, r])].map((t) => be.upload(t));
  const denseMs = await time(() => be.linear(x, W));
  const blastMs = await time(() => be.blastForward(x, f[0], f[1], f[2]));
  const layer = {
    shape: `${m}×${n} b=${b} r=${r} N=${N}`,
    denseMs,
    blastMs,
    flopRatio: (m * n) / (r * (m + n + b * b)),
  };
  await be.close();
  process.stdout.write(
    `${JSON.stringify({ engine, detail: be.describe().engine, tfBackend: tf.getBackend(), matmul, layer })}\n`,
  );
}
