import type { Tensor } from '@blastkit/core';
import { ModelFormatError, type TensorSource } from '@blastkit/models';

/**
 * Reads weights by name from `source`, each checked against the shape `shapes` gives it; `fileName` maps a
 * name to the one stored (GPT-2 files without `transformer.`). Errors name the file, the weight and both shapes.
 */
export function weightReader(
  source: TensorSource,
  shapes: ReadonlyMap<string, readonly number[]>,
  file: string,
  fileName: (name: string) => string = (name) => name,
): (name: string) => Promise<Tensor> {
  const available = new Set(source.names());
  return async (name) => {
    const expected = shapes.get(name) ?? [];
    const stored = fileName(name);
    if (!available.has(stored))
      throw new ModelFormatError(file, `missing weight '${stored}' (shape [${expected}])`);
    const shape = source.shapeOf(stored);
    if (shape.length !== expected.length || shape.some((s, i) => s !== expected[i]))
      throw new ModelFormatError(file, `weight '${stored}' has shape [${shape}], expected [${expected}]`);
    return source.readTensor(stored);
  };
}
