import { readFile } from 'node:fs/promises';
import { LLAMA_LINEAR_SUFFIXES, type LlamaConfig, selectModules } from '@blastkit/models';
import { UsageError } from '../errors.js';

/** The module-selection options `compress` and `inspect --dry-run` share (PEFT's vocabulary). */
export interface SelectionOptions {
  targetModules?: string[] | RegExp | 'all-linear';
  excludeModules?: string[] | RegExp;
  layers?: number[];
}

/** The decoder projections of a Llama the selection picks (the output head is never a candidate, as in PEFT). */
export function selectLlamaModules(config: LlamaConfig, options: SelectionOptions): string[] {
  const candidates: string[] = [];
  for (let l = 0; l < config.numLayers; l++)
    for (const s of LLAMA_LINEAR_SUFFIXES) candidates.push(`model.layers.${l}.${s}`);
  return selectModules(
    candidates,
    {
      targetModules: options.targetModules,
      excludeModules: options.excludeModules,
      layersToTransform: options.layers,
    },
    LLAMA_LINEAR_SUFFIXES,
  );
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
