import type { Tensor } from '../tensor/tensor.js';

/** The structures blastkit knows; also the `kind` written next to saved factors. */
export type StructureKind = 'dense' | 'low-rank' | 'block-diagonal' | 'monarch' | 'blast';

/** Every StructureKind, for validating a kind read from a file. */
export const STRUCTURE_KINDS: readonly StructureKind[] = [
  'dense',
  'low-rank',
  'block-diagonal',
  'monarch',
  'blast',
];

/**
 * A linear map A ∈ R^{m×n} held in some structured form. Batches are rows: `apply` maps x [N, n] to
 * x·Aᵀ [N, m] (each row y_t = A·x_t), the convention of a linear layer.
 */
export interface StructuredMatrix {
  readonly kind: StructureKind;
  /** [m, n]: output and input sizes. */
  readonly shape: readonly [number, number];
  /** Stored parameters (the count the compression ratio is measured in). */
  readonly parameterCount: number;
  /** Floating-point operations (2 per multiply-add) to apply the map to `tokens` vectors. */
  flops(tokens: number): number;
  /** y = x·Aᵀ for x [N, n] → [N, m], through the structured path (never the dense matrix). */
  apply(x: Tensor): Tensor;
  /** y = x·A for x [N, m] → [N, n]. */
  applyTransposed(x: Tensor): Tensor;
  /** The dense m×n matrix, built from the definition (not through `apply`). */
  toDense(): Tensor;
  /** The stored tensors under their conventional names (B, C, D for BLAST; U, V for low-rank…). */
  toNamedTensors(): Record<string, Tensor>;
}
