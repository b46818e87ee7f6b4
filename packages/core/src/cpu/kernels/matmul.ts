import type { MatmulOptions } from '../../backend/backend.js';
import { formatShape, ShapeError } from '../../errors.js';
import { Tensor } from '../../tensor/tensor.js';
import { operand, sgemm } from './sgemm.js';

/** op(A)·op(B) for 2-D tensors, or batched over the leading axis of 3-D tensors (a batch of 1 broadcasts). */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const ta = options.transposeA ?? false;
  const tb = options.transposeB ?? false;
  if (a.rank !== b.rank || (a.rank !== 2 && a.rank !== 3)) {
    throw new ShapeError(
      `matmul: operands must both be 2-D or both 3-D, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`,
    );
  }
  const batched = a.rank === 3;
  const [ba, ra, ca] = batched ? a.shape : [1, a.shape[0], a.shape[1]];
  const [bb, rb, cb] = batched ? b.shape : [1, b.shape[0], b.shape[1]];
  const M = ta ? ca : ra;
  const K = ta ? ra : ca;
  const Kb = tb ? cb : rb;
  const N = tb ? rb : cb;
  if (K !== Kb) {
    throw new ShapeError(
      `matmul: inner dimensions differ: A${ta ? 'ᵀ' : ''} ${formatShape(a.shape)} has ${K}, B${tb ? 'ᵀ' : ''} ${formatShape(b.shape)} has ${Kb}`,
    );
  }
  if (ba !== bb && ba !== 1 && bb !== 1) {
    throw new ShapeError(`matmul: batch sizes ${ba} and ${bb} differ (one may be 1 to broadcast)`);
  }
  const batch = Math.max(ba, bb);
  const out = new Tensor(batched ? [batch, M, N] : [M, N]);
  for (let t = 0; t < batch; t++) {
    sgemm(
      M,
      N,
      K,
      1,
      operand(a.data, (ba === 1 ? 0 : t) * ra * ca, ca, ta),
      operand(b.data, (bb === 1 ? 0 : t) * rb * cb, cb, tb),
      0,
      out.data,
      t * M * N,
      N,
    );
  }
  return out;
}
