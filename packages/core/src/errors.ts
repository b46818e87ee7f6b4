/** Raised when an argument has the wrong shape, size or value; the message names the input and what was expected. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

/** Raised when a value is outside what an operation accepts (NaN, a rank that does not fit, a bad option). */
export class InvalidArgumentError extends Error {
  override name = 'InvalidArgumentError';
}

/**
 * Raised by a backend for an operation of the interface it does not implement (a gap its kernel table declares
 * with `notImplemented(reason)`); the message names the operation, the backend and the reason.
 */
export class NotImplementedOnBackendError extends Error {
  override name = 'NotImplementedOnBackendError';
  constructor(
    readonly op: string,
    readonly backend: string,
    readonly reason?: string,
  ) {
    super(`operation '${op}' is not implemented on backend ${backend}${reason ? `: ${reason}` : ''}`);
  }
}

/** Raised when a matrix that must be symmetric positive definite is not (numerically). */
export class NotPositiveDefiniteError extends Error {
  override name = 'NotPositiveDefiniteError';
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Throws a ShapeError unless `shape` equals `expected` (-1 in `expected` matches any size). */
export function expectShape(what: string, shape: readonly number[], expected: readonly number[]): void {
  const ok = shape.length === expected.length && expected.every((d, i) => d === -1 || d === shape[i]);
  if (!ok) {
    const want = expected.map((d) => (d === -1 ? '*' : String(d))).join(',');
    throw new ShapeError(`${what} has shape ${formatShape(shape)}, expected [${want}]`);
  }
}

/** Throws unless `n` is a positive integer. */
export function expectPositiveInt(what: string, n: number): void {
  if (!Number.isInteger(n) || n <= 0)
    throw new InvalidArgumentError(`${what}: expected a positive integer, got ${n}`);
}
