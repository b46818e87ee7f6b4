import type { Tensor } from '../tensor/tensor.js';
import { BlastMatrix } from './blast.js';
import { BlockDiagonalMatrix } from './block-diagonal.js';
import { DenseMatrix } from './dense.js';
import { LowRankMatrix } from './low-rank.js';
import { MonarchMatrix } from './monarch.js';
import type { StructuredMatrix, StructureKind } from './structured-matrix.js';

export { BlastMatrix, blastFromBlockDiagonal, blastFromLowRank, blastFromMonarch } from './blast.js';
export { BlockDiagonalMatrix } from './block-diagonal.js';
export { DenseMatrix } from './dense.js';
export { LowRankMatrix } from './low-rank.js';
export { MonarchMatrix } from './monarch.js';
export { STRUCTURE_KINDS, type StructuredMatrix, type StructureKind } from './structured-matrix.js';

/** Rebuilds a structured matrix from its kind and named tensors (the inverse of `toNamedTensors`). */
export function structuredFromNamedTensors(
  kind: StructureKind,
  tensors: Record<string, Tensor>,
): StructuredMatrix {
  switch (kind) {
    case 'dense':
      return DenseMatrix.fromNamedTensors(tensors);
    case 'low-rank':
      return LowRankMatrix.fromNamedTensors(tensors);
    case 'block-diagonal':
      return BlockDiagonalMatrix.fromNamedTensors(tensors);
    case 'monarch':
      return MonarchMatrix.fromNamedTensors(tensors);
    case 'blast':
      return BlastMatrix.fromNamedTensors(tensors);
    default:
      throw new TypeError(`unknown structure kind '${kind as string}'`);
  }
}
