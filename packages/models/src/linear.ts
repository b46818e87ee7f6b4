import type { Backend, BackendTensor, StructuredMatrix, StructureKind } from '@blastkit/core';

/** A linear layer's weight on a backend: dense [out, in], or the factors of a structured matrix. */
export interface UploadedLinear {
  kind: StructureKind;
  /** [out, in]: y = x·Wᵀ, as torch.nn.Linear. */
  shape: readonly [number, number];
  tensors: Record<string, BackendTensor>;
  parameterCount: number;
}

/** Uploads a structured matrix (DenseMatrix included) as a linear layer's weight. */
export function uploadLinear(be: Backend, matrix: StructuredMatrix): UploadedLinear {
  const tensors: Record<string, BackendTensor> = {};
  for (const [name, t] of Object.entries(matrix.toNamedTensors())) tensors[name] = be.upload(t);
  return { kind: matrix.kind, shape: matrix.shape, tensors, parameterCount: matrix.parameterCount };
}

/**
 * y = x·Aᵀ for x [N, in] → [N, out], through the structure's own forward: a compressed layer never
 * rebuilds its dense matrix.
 */
export function applyLinear(be: Backend, x: BackendTensor, w: UploadedLinear): BackendTensor {
  const t = w.tensors;
  switch (w.kind) {
    case 'dense':
      return be.linear(x, t.weight);
    case 'blast':
      return be.blastForward(x, t.B, t.C, t.D);
    case 'low-rank':
      return be.lowRankForward(x, t.U, t.V);
    case 'monarch':
      return be.monarchForward(x, t.L, t.R);
    case 'block-diagonal':
      return be.blockDiagonalForward(x, t.blocks);
  }
}

export function disposeLinear(be: Backend, w: UploadedLinear): void {
  for (const h of Object.values(w.tensors)) be.dispose(h);
}
