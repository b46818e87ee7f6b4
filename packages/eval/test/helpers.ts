import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuKernels, type StructuredMatrix, Tensor } from '@blastkit/core';
import { compressLinears, type TensorSource } from '@blastkit/models';

const here = dirname(fileURLToPath(import.meta.url));
/** The small golden models of @blastkit/models. */
export const modelFixtures = join(here, '..', '..', 'models', 'fixtures');
/** What packages/eval/fixtures/gen_eval_fixtures.py computed with PyTorch / NumPy. */
export const golden = JSON.parse(readFileSync(join(here, '..', 'fixtures', 'eval-golden.json'), 'utf8'));

/** A golden float list as a tensor. */
export function tensor(shape: number[], data: number[]): Tensor {
  return new Tensor(shape, Float32Array.from(data));
}

/**
 * GPT-2's Conv1D weights are stored [in, out]; compression and the reference product want the linear [out, in].
 * The view the tests compress from (the CLI has its own).
 */
export function linearView(source: TensorSource): TensorSource {
  const conv = (name: string) => /^transformer\.h\.\d+\..*\.weight$/.test(name);
  return {
    names: () => source.names(),
    shapeOf: (name) => {
      const s = source.shapeOf(name);
      return conv(name) ? [s[1], s[0]] : s;
    },
    readTensor: async (name) => {
      const t = await source.readTensor(name);
      return conv(name) ? cpuKernels.transpose(t, [1, 0]) : t;
    },
    close: () => source.close(),
  };
}

/** Each module replaced by blastkit's rank-r truncated SVD (what the golden script does in NumPy). */
export async function lowRank(
  source: TensorSource,
  modules: readonly string[],
  rank: number,
): Promise<Map<string, StructuredMatrix>> {
  const ranks = new Map(modules.map((m) => [m, rank]));
  return (await compressLinears(source, modules, { method: 'lowrank', ratio: 1, ranks })).replacements;
}

/** |a − b| ≤ tol·|b|, with the values in the message when it fails. */
export function expectRelClose(a: number, b: number, tol: number, what: string): void {
  if (!(Math.abs(a - b) <= tol * Math.abs(b)))
    throw new Error(`${what}: ${a} differs from the golden ${b} by more than ${tol} relative`);
}
