import { cpuKernels, Rng, Tensor } from '@blastkit/core';
import { randomTensor } from '@blastkit/core/test';
import { describe, expect, it } from 'vitest';
import { blastDataAware, blastFast, lowRankFactorize, outputErrorOf, romFactorize } from '../src/index.js';

const rng = new Rng(21);

/** Inputs concentrated on a few directions, as real activations are: the case where data-awareness pays. */
function anisotropicInputs(N: number, n: number, strong: number): Tensor {
  const basis = randomTensor([strong, n], rng);
  const coeff = randomTensor([N, strong], rng, 3);
  const X = cpuKernels.matmul(coeff, basis);
  const noise = randomTensor([N, n], rng, 0.05);
  return cpuKernels.add(X, noise);
}

describe('ROM (calibration-aware output PCA)', () => {
  it('equals a direct PCA of the outputs on a toy problem', () => {
    const W = randomTensor([12, 9], rng);
    const X = randomTensor([200, 9], rng);
    const rom = romFactorize(W, X, 4);
    // direct PCA: principal directions of the centred outputs from the SVD of the centred output matrix
    const Y = cpuKernels.linear(X, W);
    const mean = cpuKernels.reduce(Y, 'mean', 0);
    const centred = cpuKernels.sub(Y, mean);
    const pcs = cpuKernels.truncatedSvd(centred, 4).V; // [12, 4]
    const projector = (P: Tensor) => cpuKernels.matmul(P, P, { transposeB: true });
    const diff = cpuKernels.sub(projector(rom.matrix.U), projector(pcs));
    expect(Math.sqrt(cpuKernels.reduce(diff, 'sumsq').data[0])).toBeLessThan(1e-4);
    // and the compressed layer's outputs are the projected outputs plus the compensated mean
    const approxY = cpuKernels.add(rom.matrix.apply(X), rom.bias);
    const expected = cpuKernels.add(cpuKernels.matmul(centred, projector(pcs)), mean);
    expect(outputErrorOf(rom.matrix.toDense(), W, X)).toBeGreaterThan(0);
    const err = cpuKernels.reduce(cpuKernels.sub(approxY, expected), 'sumsq').data[0];
    expect(Math.sqrt(err / cpuKernels.reduce(expected, 'sumsq').data[0])).toBeLessThan(1e-4);
  });

  it('beats the weight-space SVD on the outputs it was calibrated for', async () => {
    const W = randomTensor([32, 24], rng);
    const X = anisotropicInputs(300, 24, 6);
    const rom = romFactorize(W, X, 6);
    const svd = await lowRankFactorize(W, 6);
    const withBias = (m: Tensor) => cpuKernels.add(cpuKernels.linear(X, m), rom.bias);
    const Y = cpuKernels.linear(X, W);
    const errOf = (approx: Tensor) =>
      Math.sqrt(cpuKernels.reduce(cpuKernels.sub(approx, Y), 'sumsq').data[0]);
    expect(errOf(withBias(rom.matrix.toDense()))).toBeLessThan(errOf(cpuKernels.linear(X, svd.toDense())));
  });
});

describe('data-aware BLAST', () => {
  it('has a smaller output error on calibration-like inputs than data-free BLAST at the same rank', async () => {
    const A = randomTensor([32, 32], rng);
    const X = anisotropicInputs(256, 32, 10);
    const plain = await blastFast(A, { numBlocks: 2, rank: 6, steps: 60, seed: 0 });
    const aware = await blastDataAware(A, { numBlocks: 2, rank: 6, steps: 60, seed: 0, inputs: X });
    const plainOut = outputErrorOf(plain.matrix.toDense(), A, X);
    expect(aware.outputError).toBeLessThan(plainOut * 0.8);
    expect(aware.matrix.parameterCount).toBe(plain.matrix.parameterCount);
  });
  it('rejects inputs of the wrong width', async () => {
    await expect(
      blastDataAware(new Tensor([4, 4]), { numBlocks: 2, rank: 1, inputs: new Tensor([3, 5]) }),
    ).rejects.toThrow(/inputs have shape \[3,5\], expected \[N,4\]/);
  });
});
