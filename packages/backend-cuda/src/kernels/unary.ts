import { type BackendTensor, InvalidArgumentError, UNARY_OPS, type UnaryOp } from '@blastkit/core';
import type { CudaTensor, Runtime } from '../runtime.js';

/** One elementwise function (the addon's codes follow the order of UNARY_OPS). */
export function unary(rt: Runtime, xIn: BackendTensor, op: UnaryOp): CudaTensor {
  const code = UNARY_OPS.indexOf(op);
  if (code < 0)
    throw new InvalidArgumentError(`unary: unknown op '${op}', expected one of ${UNARY_OPS.join(', ')}`);
  const x = rt.tensor(xIn, `${op} input`);
  const out = rt.alloc(x.shape, `${op} output`);
  rt.native.unary(rt.ctx, code, out.id, x.id, x.size);
  return out;
}
