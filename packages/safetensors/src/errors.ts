/** Options of {@link SafetensorsError}: the tensor concerned, if any, and the underlying error. */
export interface SafetensorsErrorOptions {
  tensor?: string;
  cause?: unknown;
}

/**
 * Any problem with a safetensors file: unreadable, malformed header, bad dtype, offsets out of range, a write
 * that failed. The message names the file, the tensor if any, and the problem:
 * `model.safetensors: tensor 'w': data_offsets [0, 100] hold 100 bytes but F32 [5,6] needs 120`.
 */
export class SafetensorsError extends Error {
  /** The file, as the caller named it. */
  readonly file: string;
  /** The tensor concerned, when the problem is with one tensor. */
  readonly tensor: string | undefined;

  constructor(file: string, problem: string, options: SafetensorsErrorOptions = {}) {
    const where = options.tensor === undefined ? file : `${file}: tensor '${options.tensor}'`;
    super(`${where}: ${problem}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SafetensorsError';
    this.file = file;
    this.tensor = options.tensor;
  }
}

/** A short description of any thrown value, for messages. */
export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
