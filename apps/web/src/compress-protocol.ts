/** The messages between the page and its compression worker. */
import type { CompressMethod } from '@blastkit/models';

/** Methods the page offers: those that need no calibration text. */
export const PAGE_METHODS = [
  'blast',
  'lowrank',
  'monarch',
  'block-diag',
] as const satisfies readonly CompressMethod[];
export type PageMethod = (typeof PAGE_METHODS)[number];

export interface CompressRequest {
  /** The model's files, by virtual path (Blobs and Files pass to a worker without copying their bytes). */
  files: [string, Blob][];
  folder: string;
  method: PageMethod;
  ratio: number;
  blocks: number;
  steps: number;
  seed: number;
  /** Module-name suffixes (PEFT's target_modules); empty: every decoder linear. */
  targetModules: string[];
  /** Layer indices; empty: every layer. */
  layers: number[];
}

/** One factor tensor of a replaced module, sent back as its shape and data. */
export interface FactorTensor {
  shape: number[];
  data: Float32Array;
}

export type CompressMessage =
  | { type: 'plan'; modules: string[] }
  | { type: 'step'; module: string; step: number; total: number }
  | {
      type: 'matrix';
      index: number;
      total: number;
      name: string;
      shape: [number, number];
      rank: number | null;
      denseParameters: number;
      relativeError: number;
      seconds: number;
    }
  | {
      type: 'done';
      /** By module name: the structure's kind and its named tensors (as `toNamedTensors` gives them). */
      factors: { module: string; kind: string; tensors: Record<string, FactorTensor> }[];
      seconds: number;
    }
  | { type: 'error'; message: string };
