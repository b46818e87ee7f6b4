import { expectShape } from '../../errors.js';
import { Tensor } from '../../tensor/tensor.js';
import { rowsOf } from './elementwise.js';

/** Softmax over the last axis, max-subtracted for stability. */
export function softmax(x: Tensor): Tensor {
  const { rows, width } = rowsOf(x, 'softmax');
  const out = new Tensor(x.shape);
  const xd = x.data;
  const o = out.data;
  for (let r = 0; r < rows; r++) {
    const off = r * width;
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < width; j++) if (xd[off + j] > max) max = xd[off + j];
    let sum = 0;
    for (let j = 0; j < width; j++) {
      const e = Math.exp(xd[off + j] - max);
      o[off + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < width; j++) o[off + j] *= inv;
  }
  return out;
}

/** Llama's RMSNorm over the last axis: x · (mean(x²) + eps)^-½ · weight. */
export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  const { rows, width } = rowsOf(x, 'rmsNorm');
  expectShape('rmsNorm: weight', weight.shape, [width]);
  const out = new Tensor(x.shape);
  const w = weight.data;
  for (let r = 0; r < rows; r++) {
    const off = r * width;
    let ss = 0;
    for (let j = 0; j < width; j++) ss += x.data[off + j] * x.data[off + j];
    const inv = 1 / Math.sqrt(ss / width + eps);
    for (let j = 0; j < width; j++) out.data[off + j] = x.data[off + j] * inv * w[j];
  }
  return out;
}

/** LayerNorm over the last axis (biased variance, as PyTorch). */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
  const { rows, width } = rowsOf(x, 'layerNorm');
  expectShape('layerNorm: weight', weight.shape, [width]);
  expectShape('layerNorm: bias', bias.shape, [width]);
  const out = new Tensor(x.shape);
  for (let r = 0; r < rows; r++) {
    const off = r * width;
    let mean = 0;
    for (let j = 0; j < width; j++) mean += x.data[off + j];
    mean /= width;
    let v = 0;
    for (let j = 0; j < width; j++) {
      const d = x.data[off + j] - mean;
      v += d * d;
    }
    const inv = 1 / Math.sqrt(v / width + eps);
    for (let j = 0; j < width; j++) {
      out.data[off + j] = (x.data[off + j] - mean) * inv * weight.data[j] + bias.data[j];
    }
  }
  return out;
}
