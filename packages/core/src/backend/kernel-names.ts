/**
 * The names of the operations of the Backend interface, in one place: known-gap lists, error messages and
 * the conformance suite refer to operations by these names.
 */
export const KERNEL_NAMES = [
  'matmul',
  'linear',
  'blastForward',
  'lowRankForward',
  'monarchForward',
  'blockDiagonalForward',
  'add',
  'sub',
  'mul',
  'scale',
  'unary',
  'softmax',
  'rmsNorm',
  'layerNorm',
  'rope',
  'embedding',
  'attention',
  'transpose',
  'slice',
  'concat',
  'reduce',
  'argmax',
  'choleskySolve',
  'eigh',
  'truncatedSvd',
] as const;

export type KernelName = (typeof KERNEL_NAMES)[number];

/** Elementwise functions of `unary`. `gelu` is the exact erf form, `gelu_tanh` the tanh approximation. */
export const UNARY_OPS = [
  'silu',
  'gelu',
  'gelu_tanh',
  'relu',
  'sigmoid',
  'tanh',
  'exp',
  'neg',
  'sqrt',
  'square',
  'abs',
] as const;
export type UnaryOp = (typeof UNARY_OPS)[number];

/** Reductions of `reduce`. `sumsq` is the sum of squares (squared Frobenius norm). */
export const REDUCE_OPS = ['sum', 'mean', 'max', 'min', 'sumsq'] as const;
export type ReduceOp = (typeof REDUCE_OPS)[number];
