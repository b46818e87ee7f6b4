import { linear } from '../cpu/kernels/linear.js';
import { matmul } from '../cpu/kernels/matmul.js';
import { formatShape, ShapeError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import type { StructuredMatrix } from './structured-matrix.js';

/** An unstructured weight matrix W [m, n], the baseline every structure is compared with. */
export class DenseMatrix implements StructuredMatrix {
  readonly kind = 'dense' as const;
  readonly shape: readonly [number, number];

  constructor(readonly weight: Tensor) {
    if (weight.rank !== 2)
      throw new ShapeError(`DenseMatrix: weight has shape ${formatShape(weight.shape)}, expected [m,n]`);
    this.shape = [weight.shape[0], weight.shape[1]];
  }

  static fromNamedTensors(tensors: Record<string, Tensor>): DenseMatrix {
    return new DenseMatrix(requireTensor(tensors, 'weight', 'dense'));
  }

  get parameterCount(): number {
    return this.shape[0] * this.shape[1];
  }
  flops(tokens: number): number {
    return 2 * this.parameterCount * tokens;
  }
  apply(x: Tensor): Tensor {
    return linear(x, this.weight);
  }
  applyTransposed(x: Tensor): Tensor {
    return matmul(x, this.weight);
  }
  toDense(): Tensor {
    return this.weight.clone();
  }
  toNamedTensors(): Record<string, Tensor> {
    return { weight: this.weight };
  }
}

/** Reads one named tensor for a structure, with an error naming what is missing. */
export function requireTensor(tensors: Record<string, Tensor>, name: string, kind: string): Tensor {
  const t = tensors[name];
  if (!t) {
    throw new ShapeError(
      `${kind}: missing tensor '${name}' (have: ${Object.keys(tensors).join(', ') || 'none'})`,
    );
  }
  return t;
}
