/**
 * The outside programs our CPU figures are measured against, each run in the same bench run as ours: NumPy's
 * sgemm (OpenBLAS), onnxruntime-node's MatMul and llama2.c's `run.c`. An anchor that cannot run here is "not
 * measured" with the reason, never a typed-in figure.
 */
export { llama2cDecode } from './llama2c.js';
export { numpySgemm } from './numpy.js';
export { onnxruntimeMatmul } from './onnxruntime.js';

/** A figure measured by an anchor, or why it was not. */
export type AnchorResult<T> = ({ measured: true } & T) | { measured: false; reason: string };
