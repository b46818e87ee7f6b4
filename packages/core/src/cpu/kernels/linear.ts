import { expectShape } from '../../errors.js';
import { Tensor } from '../../tensor/tensor.js';
import { operand, sgemm } from './sgemm.js';

/** The dense layer: x [N, n] · weightᵀ [n, m] (+ bias [m]) → [N, m]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  expectShape('linear: weight', weight.shape, [-1, -1]);
  const [m, n] = weight.shape;
  expectShape('linear: x', x.shape, [-1, n]);
  const N = x.shape[0];
  const y = new Tensor([N, m]);
  if (bias) {
    expectShape('linear: bias', bias.shape, [m]);
    for (let t = 0; t < N; t++) y.data.set(bias.data, t * m);
  }
  sgemm(N, m, n, 1, operand(x.data, 0, n), operand(weight.data, 0, n, true), bias ? 1 : 0, y.data, 0, m);
  return y;
}
