import { spawnSync } from 'node:child_process';
import type { AnchorResult } from './index.js';

// Square sgemm timed inside Python: warm up, then the median of repeats until 1 s has passed.
const SCRIPT = `
import json, sys, time
import numpy as np
n = int(sys.argv[1])
rng = np.random.default_rng(0)
a = rng.standard_normal((n, n), dtype=np.float32)
b = rng.standard_normal((n, n), dtype=np.float32)
a @ b
samples = []
start = time.perf_counter()
while len(samples) < 3 or time.perf_counter() - start < 1.0:
    t0 = time.perf_counter(); a @ b; samples.append(time.perf_counter() - t0)
samples.sort()
cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
print(json.dumps({"seconds": samples[len(samples) // 2], "numpy": np.__version__,
                  "blas": f"{cfg.get('name')} {cfg.get('version')}"}))
`;

/**
 * NumPy's float32 GEMM n×n·n×n on `threads` threads, through the machine's `python3`. OPENBLAS_CORETYPE and
 * OPENBLAS_L2_SIZE are unset for this command only: some images set them to dodge bugs of old OpenBLAS builds,
 * and they slow a current one.
 */
export function numpySgemm(
  n: number,
  threads: number,
): AnchorResult<{ gflops: number; seconds: number; library: string }> {
  const python = process.env.BLASTKIT_PYTHON ?? 'python3';
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  for (const v of ['OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS']) env[v] = String(threads);
  const run = spawnSync(python, ['-c', SCRIPT, String(n)], { env, encoding: 'utf8', timeout: 120_000 });
  if (run.error) return { measured: false, reason: `${python} did not run: ${run.error.message}` };
  if (run.status !== 0) {
    const last = run.stderr.trim().split('\n').at(-1) ?? `exit ${run.status}`;
    return { measured: false, reason: `${python} with numpy failed: ${last}` };
  }
  const r = JSON.parse(run.stdout) as { seconds: number; numpy: string; blas: string };
  return {
    measured: true,
    seconds: r.seconds,
    gflops: (2 * n ** 3) / r.seconds / 1e9,
    library: `NumPy ${r.numpy} (${r.blas})`,
  };
}
