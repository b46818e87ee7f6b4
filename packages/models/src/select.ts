import { InvalidArgumentError } from '@blastkit/core';

/**
 * Which linear modules to compress, in PEFT's vocabulary (LoraConfig): `targetModules` as a list matches module
 * names by suffix (whole dotted components: 'q_proj' matches 'model.layers.0.self_attn.q_proj', not 'xq_proj'),
 * as a RegExp it must match the whole name, and 'all-linear' takes every candidate; `excludeModules` (same
 * rules) removes matches; `layersToTransform` keeps only modules in those layer indices.
 */
export interface ModuleSelection {
  targetModules?: readonly string[] | RegExp | 'all-linear';
  excludeModules?: readonly string[] | RegExp;
  layersToTransform?: readonly number[];
}

/** Per-module overrides of the ratio (PEFT's `rank_pattern`, keyed like `targetModules` lists: by suffix). */
export type RatioPattern = Readonly<Record<string, number>>;

/** The candidates (all linear module names of a model, in order) that the selection picks. */
export function selectModules(
  candidates: readonly string[],
  selection: ModuleSelection,
  defaults: readonly string[],
): string[] {
  const target = selection.targetModules ?? defaults;
  const picked = candidates.filter((name) => {
    if (target !== 'all-linear' && !matches(name, target)) return false;
    if (selection.excludeModules && matches(name, selection.excludeModules)) return false;
    if (selection.layersToTransform) {
      const layer = layerIndex(name);
      if (layer === undefined || !selection.layersToTransform.includes(layer)) return false;
    }
    return true;
  });
  if (picked.length === 0)
    throw new InvalidArgumentError(
      `module selection matches none of the ${candidates.length} linear modules (e.g. ${candidates.slice(0, 2).join(', ')})`,
    );
  return picked;
}

/** The ratio for a module: the longest matching suffix of `pattern`, else `fallback`. */
export function ratioFor(module: string, fallback: number, pattern: RatioPattern = {}): number {
  let best: string | undefined;
  for (const key of Object.keys(pattern))
    if (suffixMatch(module, key) && (best === undefined || key.length > best.length)) best = key;
  return best === undefined ? fallback : pattern[best];
}

function matches(name: string, rule: readonly string[] | RegExp): boolean {
  if (rule instanceof RegExp) {
    const m = rule.exec(name);
    return m !== null && m.index === 0 && m[0].length === name.length;
  }
  return rule.some((suffix) => suffixMatch(name, suffix));
}

function suffixMatch(name: string, suffix: string): boolean {
  return name === suffix || name.endsWith(`.${suffix}`);
}

/** The layer index in names like `model.layers.3.mlp.up_proj`, `transformer.h.3.…`, `blocks.3.…`. */
export function layerIndex(name: string): number | undefined {
  const m = /(?:^|\.)(?:layers|layer|h|blocks)\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : undefined;
}
