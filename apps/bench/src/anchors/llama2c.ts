import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { AnchorResult } from './index.js';

/**
 * llama2.c's run.c at karpathy/llama2.c commit 350e04f (the plain-C reference decoder of the stories models).
 * Its source is not ours to ship and nothing downloads at run time: the user puts that file at
 * BLASTKIT_LLAMA2C_RUN_C or ~/.cache/blastkit/llama2c/run.c, and a different file is refused by this hash.
 */
export const LLAMA2C_RUN_C_SHA256 = '9c4f2d5c6ae01b71726d1cc37530d71e60bff0ec7cc012565f16a43c1ca658bd';

/**
 * Greedy decode tokens/s of llama2.c (`gcc -Ofast -march=native`, with `-fopenmp` when threads > 1) on the
 * given model: its own "achieved tok/s" line, which times every token after the first.
 */
export function llama2cDecode(
  model: string,
  tokenizer: string,
  steps: number,
  threads: number,
): AnchorResult<{ tokensPerSecond: number; program: string }> {
  const dir = join(homedir(), '.cache', 'blastkit', 'llama2c');
  const source = process.env.BLASTKIT_LLAMA2C_RUN_C ?? join(dir, 'run.c');
  if (!existsSync(source))
    return {
      measured: false,
      reason: `llama2.c's run.c is not at ${source} (put karpathy/llama2.c@350e04f run.c there, or set BLASTKIT_LLAMA2C_RUN_C)`,
    };
  const sha = createHash('sha256').update(readFileSync(source)).digest('hex');
  if (sha !== LLAMA2C_RUN_C_SHA256)
    return {
      measured: false,
      reason: `${source} has sha256 ${sha}, not the pinned run.c's ${LLAMA2C_RUN_C_SHA256}`,
    };
  mkdirSync(dir, { recursive: true });
  const openmp = threads > 1;
  const binary = join(dir, `run-${sha.slice(0, 12)}${openmp ? '-omp' : ''}`);
  const flags = ['-Ofast', '-march=native', ...(openmp ? ['-fopenmp'] : []), '-o', binary, source, '-lm'];
  if (!existsSync(binary)) {
    const cc = spawnSync(process.env.CC ?? 'gcc', flags, { encoding: 'utf8' });
    if (cc.error || cc.status !== 0)
      return {
        measured: false,
        reason: `gcc ${flags.join(' ')} failed: ${cc.error?.message ?? cc.stderr.trim()}`,
      };
  }
  const run = spawnSync(
    binary,
    [model, '-z', tokenizer, '-t', '0', '-n', String(steps), '-i', 'Once upon a time'],
    {
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: String(threads) },
      timeout: 120_000,
    },
  );
  const match = /achieved tok\/s: ([\d.]+)/.exec(run.stderr ?? '');
  if (run.status !== 0 || !match)
    return {
      measured: false,
      reason: `run.c exited ${run.status}: ${(run.stderr ?? '').trim().split('\n').at(-1)}`,
    };
  return {
    measured: true,
    tokensPerSecond: Number(match[1]),
    program: `llama2.c run.c@350e04f, gcc ${flags.slice(0, openmp ? 3 : 2).join(' ')}, ${threads} thread${threads > 1 ? 's' : ''}`,
  };
}
