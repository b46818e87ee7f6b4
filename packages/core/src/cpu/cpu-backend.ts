import {
  type AttentionOptions,
  BACKEND_SPECIFICATION_VERSION,
  type Backend,
  type BackendDescription,
  type BackendTensor,
  type BlastForwardOptions,
  type EighResult,
  type MatmulOptions,
  type RopeOptions,
  type SvdResult,
} from '../backend/backend.js';
import type { ReduceOp, UnaryOp } from '../backend/kernel-names.js';
import { InvalidArgumentError } from '../errors.js';
import { resolveReshape, Tensor } from '../tensor/tensor.js';
import { attention } from './kernels/attention.js';
import { choleskySolve } from './kernels/cholesky-solve.js';
import { eigh } from './kernels/eigh.js';
import { add, mul, scale, sub, unary } from './kernels/elementwise.js';
import { embedding } from './kernels/embedding.js';
import { concat, slice, transpose } from './kernels/layout.js';
import { linear } from './kernels/linear.js';
import { matmul } from './kernels/matmul.js';
import { argmax, reduce } from './kernels/reduce.js';
import { rope } from './kernels/rope.js';
import { layerNorm, rmsNorm, softmax } from './kernels/softmax-norm.js';
import {
  blastForward,
  blockDiagonalForward,
  lowRankForward,
  monarchForward,
} from './kernels/structured-forward.js';
import { truncatedSvd } from './kernels/truncated-svd.js';

/** Accepts only host tensors: a handle from another backend is a usage error worth naming. */
function host(t: BackendTensor, what: string): Tensor {
  if (!(t instanceof Tensor)) {
    throw new InvalidArgumentError(
      `cpu backend: ${what} is not a CPU tensor (a handle from another backend?)`,
    );
  }
  return t;
}

/**
 * The CPU reference backend: every operation of the Backend interface in TypeScript. It is the one reference
 * every other backend is tested against, so clarity and exactness come first; GEMMs are cache-blocked.
 * Its tensor handles are plain `Tensor`s; `download` returns a copy so callers can't alias backend memory.
 */
export class CpuBackend implements Backend {
  readonly specificationVersion = BACKEND_SPECIFICATION_VERSION;
  readonly name = 'cpu';

  describe(): BackendDescription {
    return {
      name: 'cpu',
      device: 'cpu',
      engine: 'TypeScript reference (@blastkit/core), 1 thread',
      software: false,
    };
  }

  upload(tensor: Tensor): Tensor {
    return tensor.clone();
  }
  async download(tensor: BackendTensor): Promise<Tensor> {
    return host(tensor, 'download input').clone();
  }
  /** Synchronous read, only on this backend: the same copy `download` resolves to. */
  readSync(tensor: BackendTensor): Tensor {
    return host(tensor, 'readSync input').clone();
  }
  dispose(_tensor: BackendTensor): void {
    // host memory is garbage-collected
  }
  reshape(tensor: BackendTensor, shape: readonly number[]): Tensor {
    const t = host(tensor, 'reshape input');
    return new Tensor(resolveReshape(t.shape, shape), t.data);
  }

  matmul(a: BackendTensor, b: BackendTensor, options?: MatmulOptions): Tensor {
    return matmul(host(a, 'matmul A'), host(b, 'matmul B'), options);
  }
  linear(x: BackendTensor, weight: BackendTensor, bias?: BackendTensor): Tensor {
    return linear(host(x, 'linear x'), host(weight, 'linear weight'), bias && host(bias, 'linear bias'));
  }
  blastForward(
    x: BackendTensor,
    B: BackendTensor,
    C: BackendTensor,
    D: BackendTensor,
    options?: BlastForwardOptions,
  ): Tensor {
    return blastForward(host(x, 'blastForward x'), host(B, 'B'), host(C, 'C'), host(D, 'D'), options);
  }
  lowRankForward(x: BackendTensor, U: BackendTensor, V: BackendTensor): Tensor {
    return lowRankForward(host(x, 'lowRankForward x'), host(U, 'U'), host(V, 'V'));
  }
  monarchForward(x: BackendTensor, L: BackendTensor, R: BackendTensor): Tensor {
    return monarchForward(host(x, 'monarchForward x'), host(L, 'L'), host(R, 'R'));
  }
  blockDiagonalForward(x: BackendTensor, blocks: BackendTensor): Tensor {
    return blockDiagonalForward(host(x, 'blockDiagonalForward x'), host(blocks, 'blocks'));
  }

  add(a: BackendTensor, b: BackendTensor): Tensor {
    return add(host(a, 'add a'), host(b, 'add b'));
  }
  sub(a: BackendTensor, b: BackendTensor): Tensor {
    return sub(host(a, 'sub a'), host(b, 'sub b'));
  }
  mul(a: BackendTensor, b: BackendTensor): Tensor {
    return mul(host(a, 'mul a'), host(b, 'mul b'));
  }
  scale(a: BackendTensor, alpha: number, beta?: number): Tensor {
    return scale(host(a, 'scale input'), alpha, beta);
  }
  unary(x: BackendTensor, op: UnaryOp): Tensor {
    return unary(host(x, `${op} input`), op);
  }
  softmax(x: BackendTensor): Tensor {
    return softmax(host(x, 'softmax input'));
  }
  rmsNorm(x: BackendTensor, weight: BackendTensor, eps: number): Tensor {
    return rmsNorm(host(x, 'rmsNorm x'), host(weight, 'rmsNorm weight'), eps);
  }
  layerNorm(x: BackendTensor, weight: BackendTensor, bias: BackendTensor, eps: number): Tensor {
    return layerNorm(
      host(x, 'layerNorm x'),
      host(weight, 'layerNorm weight'),
      host(bias, 'layerNorm bias'),
      eps,
    );
  }
  rope(x: BackendTensor, positions: Int32Array, options: RopeOptions): Tensor {
    return rope(host(x, 'rope x'), positions, options);
  }
  embedding(table: BackendTensor, ids: Int32Array): Tensor {
    return embedding(host(table, 'embedding table'), ids);
  }
  attention(q: BackendTensor, k: BackendTensor, v: BackendTensor, options: AttentionOptions): Tensor {
    return attention(host(q, 'attention q'), host(k, 'attention k'), host(v, 'attention v'), options);
  }

  transpose(x: BackendTensor, perm: readonly number[]): Tensor {
    return transpose(host(x, 'transpose input'), perm);
  }
  slice(x: BackendTensor, begin: readonly number[], size: readonly number[]): Tensor {
    return slice(host(x, 'slice input'), begin, size);
  }
  concat(xs: readonly BackendTensor[], axis: number): Tensor {
    return concat(
      xs.map((t, i) => host(t, `concat input ${i}`)),
      axis,
    );
  }

  reduce(x: BackendTensor, op: ReduceOp, axis?: number): Tensor {
    return reduce(host(x, `${op} input`), op, axis);
  }
  argmax(x: BackendTensor): Tensor {
    return argmax(host(x, 'argmax input'));
  }

  choleskySolve(A: BackendTensor, B: BackendTensor): Tensor {
    return choleskySolve(host(A, 'choleskySolve A'), host(B, 'choleskySolve B'));
  }
  eigh(A: BackendTensor): EighResult {
    return eigh(host(A, 'eigh input'));
  }
  truncatedSvd(A: BackendTensor, k: number): SvdResult {
    return truncatedSvd(host(A, 'truncatedSvd input'), k);
  }
}

/** A new CPU reference backend. */
export function createCpuBackend(): CpuBackend {
  return new CpuBackend();
}
