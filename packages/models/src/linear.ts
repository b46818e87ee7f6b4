import {
  type Backend,
  type BackendTensor,
  DenseMatrix,
  type StructuredMatrix,
  type StructureKind,
  type Tensor,
} from '@blastkit/core';
import { ModelFormatError } from './tensor-source.js';

/** A linear layer's weight on a backend: dense [out, in], or the factors of a structured matrix. */
export interface UploadedLinear {
  kind: StructureKind;
  /** [out, in]: y = x·Wᵀ, as torch.nn.Linear. */
  shape: readonly [number, number];
  tensors: Record<string, BackendTensor>;
  /** Added to the output (e.g. ROM's mean compensation on a layer that had no bias); counted in parameters. */
  bias?: BackendTensor;
  parameterCount: number;
}

/** Uploads a structured matrix (DenseMatrix included), and optionally an output bias, as a linear layer. */
export function uploadLinear(be: Backend, matrix: StructuredMatrix, bias?: Tensor): UploadedLinear {
  const tensors: Record<string, BackendTensor> = {};
  for (const [name, t] of Object.entries(matrix.toNamedTensors())) tensors[name] = be.upload(t);
  const extra = bias === undefined ? {} : { bias: be.upload(bias) };
  const parameterCount = matrix.parameterCount + (bias?.size ?? 0);
  return { kind: matrix.kind, shape: matrix.shape, tensors, ...extra, parameterCount };
}

/**
 * y = x·Aᵀ for x [N, in] → [N, out], through the structure's own forward: a compressed layer never
 * rebuilds its dense matrix.
 */
export function applyLinear(be: Backend, x: BackendTensor, w: UploadedLinear): BackendTensor {
  const y = applyWeight(be, x, w);
  if (w.bias === undefined) return y;
  const out = be.add(y, w.bias);
  be.dispose(y);
  return out;
}

function applyWeight(be: Backend, x: BackendTensor, w: UploadedLinear): BackendTensor {
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
  if (w.bias) be.dispose(w.bias);
}

/**
 * Uploads one linear of a model being loaded: its structured replacement when there is one (its shape checked
 * against [out, in]; the dense weight is then never read), else the dense weight from `readDense`.
 */
export async function loadLinear(
  be: Backend,
  file: string,
  module: string,
  expected: readonly [number, number],
  replacement: StructuredMatrix | undefined,
  readDense: () => Promise<Tensor>,
  bias?: Tensor,
): Promise<UploadedLinear> {
  if (bias !== undefined && (bias.rank !== 1 || bias.shape[0] !== expected[0]))
    throw new ModelFormatError(
      file,
      `bias for '${module}' has shape [${bias.shape}], expected [${expected[0]}]`,
    );
  if (replacement === undefined) return uploadLinear(be, new DenseMatrix(await readDense()), bias);
  if (replacement.shape[0] !== expected[0] || replacement.shape[1] !== expected[1])
    throw new ModelFormatError(
      file,
      `replacement for '${module}' has shape [${replacement.shape}], expected [${expected}] ([out, in])`,
    );
  return uploadLinear(be, replacement, bias);
}
