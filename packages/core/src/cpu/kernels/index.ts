/**
 * The CPU reference kernels as plain functions on host tensors, exported so other backends can fall back to
 * them (a documented CPU hand-off) and tests can check against them.
 */
export { attention } from './attention.js';
export { choleskySolve } from './cholesky-solve.js';
export { eigh } from './eigh.js';
export { add, broadcastShapes, erf, mul, scale, sub, unary } from './elementwise.js';
export { embedding } from './embedding.js';
export { concat, slice, transpose } from './layout.js';
export { linear } from './linear.js';
export { matmul } from './matmul.js';
export { argmax, reduce } from './reduce.js';
export { rope, ropeInvFrequencies } from './rope.js';
export { layerNorm, rmsNorm, softmax } from './softmax-norm.js';
export { blastForward, blockDiagonalForward, lowRankForward, monarchForward } from './structured-forward.js';
export { truncatedSvd } from './truncated-svd.js';
