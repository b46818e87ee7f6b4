import { Rng, Tensor } from '@blastkit/core';
import { type LlamaConfig, llamaWeightShapes, type TensorSource } from '@blastkit/models';

/**
 * A plain Llama config (multi-head attention, tied head, RoPE θ 10,000) for suites that time shapes: speed does
 * not depend on the weights' values, so these models carry random ones ({@link RandomLlamaSource}).
 */
export function llamaShape(
  hiddenSize: number,
  intermediateSize: number,
  numLayers: number,
  numHeads: number,
  vocabSize: number,
): LlamaConfig {
  return {
    modelType: 'llama',
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKvHeads: numHeads,
    headDim: hiddenSize / numHeads,
    vocabSize,
    maxPositionEmbeddings: 1024,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    tieWordEmbeddings: true,
  };
}

/** Seeded N(0, std²) data. */
export function randomData(size: number, std: number, seed: number): Float32Array {
  return new Rng(seed).fillNormal(new Float32Array(size), std) as Float32Array;
}

/** Seeded N(0, 0.02²) weights with every name and shape of a Llama checkpoint; norms are ones. */
export class RandomLlamaSource implements TensorSource {
  private readonly shapes: Map<string, number[]>;
  constructor(
    config: LlamaConfig,
    private readonly seed: number,
  ) {
    this.shapes = llamaWeightShapes(config);
  }
  names() {
    return [...this.shapes.keys()];
  }
  shapeOf(name: string) {
    const s = this.shapes.get(name);
    if (!s) throw new Error(`random Llama: no tensor '${name}'`);
    return s;
  }
  async readTensor(name: string) {
    const shape = this.shapeOf(name);
    const size = shape.reduce((a, b) => a * b, 1);
    if (name.endsWith('norm.weight')) return new Tensor(shape, new Float32Array(size).fill(1));
    return new Tensor(shape, randomData(size, 0.02, this.seed + this.names().indexOf(name)));
  }
  async close() {}
}
