import { formatShape, ShapeError } from '../errors.js';

/** Number of elements of a shape; throws on negative or fractional sizes. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0)
      throw new ShapeError(`invalid shape ${formatShape(shape)}: sizes must be integers ≥ 0`);
    n *= d;
  }
  return n;
}

/**
 * A dense float32 tensor on the host: a shape and a row-major Float32Array.
 * It is also the tensor handle of the CPU reference backend.
 */
export class Tensor {
  readonly dtype = 'float32' as const;
  readonly shape: readonly number[];
  readonly data: Float32Array;

  constructor(shape: readonly number[], data?: Float32Array | readonly number[]) {
    const size = shapeSize(shape);
    this.shape = Object.freeze([...shape]);
    if (data === undefined) {
      this.data = new Float32Array(size);
    } else {
      if (data.length !== size) {
        throw new ShapeError(
          `tensor data has ${data.length} elements, shape ${formatShape(shape)} needs ${size}`,
        );
      }
      this.data = data instanceof Float32Array ? data : Float32Array.from(data);
    }
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  static zeros(shape: readonly number[]): Tensor {
    return new Tensor(shape);
  }

  static filled(shape: readonly number[], value: number): Tensor {
    const t = new Tensor(shape);
    t.data.fill(value);
    return t;
  }

  /** Builds a 2-D tensor from an array of equal-length rows. */
  static fromRows(rows: readonly (readonly number[])[]): Tensor {
    const m = rows.length;
    const n = m === 0 ? 0 : rows[0].length;
    const t = new Tensor([m, n]);
    rows.forEach((row, i) => {
      if (row.length !== n) throw new ShapeError(`row ${i} has ${row.length} entries, expected ${n}`);
      t.data.set(row, i * n);
    });
    return t;
  }

  /** The identity matrix of size n. */
  static eye(n: number): Tensor {
    const t = new Tensor([n, n]);
    for (let i = 0; i < n; i++) t.data[i * n + i] = 1;
    return t;
  }

  /** A view with another shape of the same size, sharing the data. */
  reshape(shape: readonly number[]): Tensor {
    const resolved = resolveReshape(this.shape, shape);
    return new Tensor(resolved, this.data);
  }

  /** A deep copy. */
  clone(): Tensor {
    return new Tensor(this.shape, this.data.slice());
  }

  /** Element at a multi-index (slow; for tests and small tensors). */
  get(...index: number[]): number {
    return this.data[this.offsetOf(index)];
  }

  set(value: number, ...index: number[]): void {
    this.data[this.offsetOf(index)] = value;
  }

  /** Nested arrays, for printing and tests. */
  toArray(): unknown {
    const build = (dim: number, offset: number): unknown => {
      const n = this.shape[dim];
      if (dim === this.shape.length - 1) return Array.from(this.data.subarray(offset, offset + n));
      const stride = shapeSize(this.shape.slice(dim + 1));
      return Array.from({ length: n }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return this.shape.length === 0 ? this.data[0] : build(0, 0);
  }

  private offsetOf(index: number[]): number {
    if (index.length !== this.shape.length) {
      throw new ShapeError(`index of length ${index.length} for a tensor of rank ${this.shape.length}`);
    }
    let off = 0;
    for (let d = 0; d < index.length; d++) {
      const i = index[d];
      if (!Number.isInteger(i) || i < 0 || i >= this.shape[d]) {
        throw new ShapeError(
          `index ${i} out of range for dimension ${d} of shape ${formatShape(this.shape)}`,
        );
      }
      off = off * this.shape[d] + i;
    }
    return off;
  }
}

/** Resolves a reshape target (one -1 allowed) against a source shape. */
export function resolveReshape(from: readonly number[], to: readonly number[]): number[] {
  const size = shapeSize(from);
  const unknown = to.filter((d) => d === -1).length;
  if (unknown > 1) throw new ShapeError(`reshape to ${formatShape(to)}: at most one -1 allowed`);
  const known = to.reduce((a, d) => (d === -1 ? a : a * d), 1);
  const resolved = to.map((d) => (d === -1 ? (known === 0 ? 0 : size / known) : d));
  if (shapeSize(resolved) !== size || resolved.some((d) => !Number.isInteger(d))) {
    throw new ShapeError(`cannot reshape ${formatShape(from)} (${size} elements) to ${formatShape(to)}`);
  }
  return resolved;
}

/** Throws if any entry is NaN or ±Infinity; names the tensor and the first bad index. */
export function assertFinite(what: string, data: ArrayLike<number>): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new RangeError(`${what}: entry ${i} is ${data[i]}; expected finite values`);
    }
  }
}
