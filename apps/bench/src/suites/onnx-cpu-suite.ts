/**
 * The onnx-cpu suite as data: what it measures and how it runs (./onnx-cpu.ts, imported when run). It has no
 * renderer of its own: the report shows its result as JSON.
 */
import type { OnnxCpuResult } from './onnx-cpu.js';
import { defineSuite } from './suite.js';

export const ONNX_CPU_SUITE = defineSuite<OnnxCpuResult>({
  name: 'onnx-cpu',
  description:
    'stories15M exported to ONNX, dense vs BLAST-50%, on onnxruntime-node (1 and 2 threads): decode tok/s, 256-token prefill; 4096² BLAST layer per mixing formulation vs dense MatMul, N = 1 and 256',
  run: async ({ quick, log }) => await (await import('./onnx-cpu.js')).runOnnxCpu({ quick, log }),
});
