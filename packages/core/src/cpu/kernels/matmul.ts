import type { MatmulOptions } from '../../backend/backend.js';
import { matmulDims } from '../../backend/matmul-dims.js';
import { Tensor } from '../../tensor/tensor.js';
import { operand, sgemm } from './sgemm.js';

/** op(A)·op(B) for 2-D tensors, or batched over the leading axis of 3-D tensors (a batch of 1 broadcasts). */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const d = matmulDims(a.shape, b.shape, options);
  const out = new Tensor(d.outShape);
  for (let t = 0; t < d.batch; t++) {
    const offA = (d.batchA === 1 ? 0 : t) * d.rowsA * d.colsA;
    const offB = (d.batchB === 1 ? 0 : t) * d.rowsB * d.colsB;
    sgemm(
      d.M,
      d.N,
      d.K,
      1,
      operand(a.data, offA, d.colsA, d.transposeA),
      operand(b.data, offB, d.colsB, d.transposeB),
      0,
      out.data,
      t * d.M * d.N,
      d.N,
    );
  }
  return out;
}
