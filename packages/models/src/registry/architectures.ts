import { ModelFormatError } from '../tensor-source.js';
import type { ArchitectureEntry, ModelTask } from './architecture.js';
import { ditArchitecture } from './dit.js';
import { gpt2Architecture } from './gpt2.js';
import { llamaArchitecture } from './llama.js';
import { mistralArchitecture } from './mistral.js';
import { phi3Architecture } from './phi3.js';
import { qwen2Architecture } from './qwen2.js';
import { vitArchitecture } from './vit.js';

/**
 * Every architecture blastkit runs, one entry each (transformers.js's `model_type` → class map, with PEFT's
 * default targets and what saving and export need). Register a new one by adding its entry here.
 */
export const ARCHITECTURES: readonly ArchitectureEntry[] = [
  llamaArchitecture,
  qwen2Architecture,
  mistralArchitecture,
  phi3Architecture,
  gpt2Architecture,
  vitArchitecture,
  ditArchitecture,
];

/** The entry named `name` ('llama'), or undefined. */
export function architectureNamed(name: string): ArchitectureEntry | undefined {
  return ARCHITECTURES.find((a) => a.name === name);
}

/** The entry a config.json describes: by its model_type, or an entry's own detection. */
export function architectureOf(json: Record<string, unknown>, file: string): ArchitectureEntry {
  const type = json.model_type;
  const found =
    ARCHITECTURES.find((a) => typeof type === 'string' && a.modelTypes.includes(type)) ??
    ARCHITECTURES.find((a) => a.detect?.(json));
  if (found) return found;
  throw new ModelFormatError(
    file,
    `model_type ${JSON.stringify(type)} is not one blastkit runs (${ARCHITECTURES.map((a) => a.name).join(', ')})`,
  );
}

/** The entries with `task`, or with a capability, for messages that list them ('Llama, GPT-2'). */
export function architectureLabels(
  which: ModelTask | ((a: ArchitectureEntry) => boolean),
  joiner: ', ' | ' and ' = ', ',
): string {
  const labels = ARCHITECTURES.filter((a) => (typeof which === 'string' ? a.task === which : which(a))).map(
    (a) => a.label,
  );
  if (joiner === ', ' || labels.length < 2) return labels.join(', ');
  return `${labels.slice(0, -1).join(', ')} and ${labels[labels.length - 1]}`;
}
