import type { Tensor } from '@blastkit/core';

/**
 * Where a model's weights come from, read one tensor at a time (a safetensors file, a llama2.c checkpoint…),
 * so loading never needs the whole file in memory. Names are Hugging Face names.
 */
export interface TensorSource {
  names(): string[];
  shapeOf(name: string): readonly number[];
  readTensor(name: string): Promise<Tensor>;
  close(): Promise<void>;
}

/** A weight file that is not what a loader expects: names the file and the problem. */
export class ModelFormatError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'ModelFormatError';
  }
}

/** Throws if a weight holds NaN or ±Inf: such a file would run and print garbage instead of failing. */
export function expectFiniteWeights(file: string, name: string, t: Tensor): void {
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i]))
      throw new ModelFormatError(
        file,
        `tensor '${name}' has ${d[i]} at flat index ${i}; weights must be finite`,
      );
  }
}

/**
 * A reader that checks each weight against the architecture before reading it: a missing name or a wrong shape
 * is a ModelFormatError naming the file, the tensor and the expected shape. `storedName` maps an architecture
 * name to the name in the file (e.g. GPT-2 checkpoints without the `transformer.` prefix).
 */
export function checkedReader(
  source: TensorSource,
  shapes: ReadonlyMap<string, readonly number[]>,
  file: string,
  storedName: (name: string) => string = (name) => name,
): (name: string) => Promise<Tensor> {
  const available = new Set(source.names());
  return async (name) => {
    const expected = shapes.get(name);
    if (expected === undefined)
      throw new Error(`checkedReader: '${name}' is not a weight of this architecture`);
    const stored = storedName(name);
    if (!available.has(stored))
      throw new ModelFormatError(file, `missing weight '${stored}' (shape [${expected}])`);
    const shape = source.shapeOf(stored);
    if (shape.length !== expected.length || shape.some((s, i) => s !== expected[i]))
      throw new ModelFormatError(file, `weight '${stored}' has shape [${shape}], expected [${expected}]`);
    return source.readTensor(stored);
  };
}
