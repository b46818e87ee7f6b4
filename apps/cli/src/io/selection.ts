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
 * or any `{ "layers": [{ "name": …, "rank": … }] }`. Returns ranks by module name. A plan with no layers, or
 * naming a layer twice, is refused: it would compress nothing, or say two things about one layer.
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
  const expected = 'expected { "layers": [{ "name", "rank" }] } (the JSON of inspect --dry-run --json)';
  if (!isObject(json)) throw new UsageError(`--budget ${path}: ${expected}`);
  const plan = json.plan ?? json;
  const layers = isObject(plan) ? plan.layers : undefined;
  if (!Array.isArray(layers)) throw new UsageError(`--budget ${path}: ${expected}`);
  if (layers.length === 0)
    throw new UsageError(`--budget ${path}: the plan has no layers; nothing to compress`);
  const ranks = new Map<string, number>();
  for (const l of layers) {
    const { name, rank } = isObject(l) ? l : {};
    if (typeof name !== 'string' || name === '' || !(Number.isSafeInteger(rank) && (rank as number) >= 1))
      throw new UsageError(
        `--budget ${path}: every layer needs a name and a positive integer rank (${preview(l)})`,
      );
    if (ranks.has(name)) throw new UsageError(`--budget ${path}: layer '${name}' is listed twice`);
    ranks.set(name, rank as number);
  }
  return ranks;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
