/**
 * @blastkit/core — tensors, structured matrices, the versioned Backend interface and the CPU reference backend.
 */

export * from './backend/backend.js';
export * from './backend/cpu-handoff.js';
export * from './backend/kernel-names.js';
export * from './backend/kernel-table.js';
export * from './backend/matmul-dims.js';
export * from './backend/registry.js';
export * from './backend/shape-rules.js';
export { CpuBackend, createCpuBackend } from './cpu/cpu-backend.js';
export * as cpuKernels from './cpu/kernels/index.js';
export { type GemmOperand, operand, sgemm } from './cpu/kernels/sgemm.js';
export * from './errors.js';
export { Rng } from './random/rng.js';
export * from './structured/index.js';
export * from './tensor/half.js';
export { relativeFrobeniusError } from './tensor/norms.js';
export { assertFinite, resolveReshape, shapeSize, Tensor } from './tensor/tensor.js';
