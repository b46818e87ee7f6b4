import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';

/** The module-selection options `compress` and `inspect --dry-run` share (PEFT's vocabulary). */
export interface SelectionOptions {
  targetModules?: string[] | RegExp | 'all-linear';
  excludeModules?: string[] | RegExp;
  layers?: number[];
}

/**
 * A `--budget` file: the JSON `blastkit inspect --dry-run --json` prints (its `plan.layers[].{name, rank}`),
 * or any `{ "layers": [{ "name": …, "rank": … }] }`. Returns ranks by module name.
 */
export async function readBudgetFile(path: string): Promise<Map<string, number>> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new UsageError(
      `--budget ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const plan = (json as { plan?: unknown }).plan ?? json;
  const layers = (plan as { layers?: unknown }).layers;
  if (!Array.isArray(layers))
    throw new UsageError(`--budget ${path}: expected { "layers": [{ "name", "rank" }] }`);
  const ranks = new Map<string, number>();
  for (const l of layers) {
    const { name, rank } = l as { name?: unknown; rank?: unknown };
    if (typeof name !== 'string' || !(Number.isInteger(rank) && (rank as number) >= 1))
      throw new UsageError(
        `--budget ${path}: every layer needs a name and a positive integer rank (${JSON.stringify(l)})`,
      );
    ranks.set(name, rank as number);
  }
  return ranks;
}
