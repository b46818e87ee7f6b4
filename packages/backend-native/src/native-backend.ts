import {
  type AttentionOptions,
  BACKEND_SPECIFICATION_VERSION,
  type Backend,
  type BackendDescription,
  type BackendTensor,
  type BlastForwardOptions,
  type EighResult,
  InvalidArgumentError,
  type MatmulOptions,
  type ReduceOp,
  type RopeOptions,
  resolveReshape,
  type SvdResult,
  Tensor,
  type UnaryOp,
} from '@blastkit/core';
import { binary, layerNorm, rmsNorm, scale, softmax, unary } from './kernels/elementwise.js';
import { choleskySolve, eigh, truncatedSvd } from './kernels/factorization.js';
import { concat, slice, transpose } from './kernels/layout.js';
import {
  type BlastPath,
  blastForward,
  blockDiagonalForward,
  linear,
  lowRankForward,
  matmul,
  monarchForward,
} from './kernels/products.js';
import { argmax, reduce } from './kernels/reduce.js';
import { attention, embedding, rope } from './kernels/transformer.js';
import { loadAddon, type NativeAddon, type NativeInfo, type NativeStats } from './native-addon.js';
import { type NativeProbe, probeNative, resolveThreads } from './probe.js';
import { NativeTensor, Runtime } from './runtime.js';

export interface NativeBackendOptions {
  /** Worker threads, the calling thread included (default: BLASTKIT_THREADS, else every core). */
  threads?: number;
}

/** Thrown by NativeBackend.create when probe() says the backend cannot run; the message carries the reason. */
export class NativeUnavailableError extends Error {
  override name = 'NativeUnavailableError';
  constructor(readonly probe: NativeProbe) {
    super(`native backend unavailable: ${probe.reason}`);
  }
}

const VARIANT_LABELS: Record<string, string> = {
  avx2: 'avx2+fma',
  baseline: 'x86-64 baseline',
  neon: 'neon',
  generic: 'generic',
};

/**
 * The Backend interface on the CPU through the blastkit_native addon: tensors live in 64-byte aligned native
 * memory (freed buffers are kept by size and reused), GEMMs and the factorizations run on Eigen 3.4, the BLAST
 * mixing, a fused BLAST decode, Monarch, attention, RoPE and the norms on the addon's own C++, over a
 * persistent thread pool. Every kernel runs when called; `download` only copies.
 */
export class NativeBackend implements Backend {
  readonly specificationVersion = BACKEND_SPECIFICATION_VERSION;
  readonly name = 'native';
  private readonly rt: Runtime;

  /** Use NativeBackend.create (or createBackend). */
  constructor(
    native: NativeAddon,
    /** What the addon was compiled for and with. */
    readonly info: NativeInfo,
    /** The pool's thread count, the calling thread included. */
    readonly threads: number,
  ) {
    this.rt = new Runtime(native, native.open(threads), 'native');
  }

  /** Synchronous and never throws: whether the addon loads here, and if not, why. */
  static probe(): NativeProbe {
    return probeNative();
  }

  /** A backend; rejects with a NativeUnavailableError naming probe()'s reason. */
  static async create(options: NativeBackendOptions = {}): Promise<NativeBackend> {
    return NativeBackend.createSync(options);
  }

  /** The same as create, synchronously (loading the addon and starting the threads do not wait on anything). */
  static createSync(options: NativeBackendOptions = {}): NativeBackend {
    const probe = probeNative();
    const load = loadAddon();
    if (!probe.available || !load.ok) throw new NativeUnavailableError(probe);
    return new NativeBackend(load.addon, load.info, resolveThreads(options.threads));
  }

  /** The uniform one-line description: { name: 'native', device: 'cpu', engine: 'Eigen 3.4.0 (avx2+fma), 2 threads' }. */
  describe(): BackendDescription {
    const variant = VARIANT_LABELS[this.info.variant] ?? this.info.variant;
    const threads = `${this.threads} thread${this.threads === 1 ? '' : 's'}`;
    return {
      name: 'native',
      device: 'cpu',
      engine: `Eigen ${this.info.eigen} (${variant}), ${threads}`,
      software: false,
    };
  }

  /** Native memory as the addon counts it: live tensors (count, bytes, peak), the reuse pool, scratch. */
  get memory(): NativeStats {
    return this.rt.stats();
  }

  /** Frees the buffers kept for reuse. */
  trimPool(): void {
    this.rt.checkOpen();
    this.rt.native.trimPool(this.rt.ctx);
  }

  upload(tensor: Tensor): BackendTensor {
    if (!(tensor instanceof Tensor)) {
      throw new InvalidArgumentError('native: upload expects a host Tensor from @blastkit/core');
    }
    const t = this.rt.alloc(tensor.shape, 'uploaded tensor');
    this.rt.write(t, tensor.data);
    return t;
  }
  async download(tensor: BackendTensor): Promise<Tensor> {
    return this.readSync(tensor);
  }
  /** Synchronous read: the copy `download` resolves to. */
  readSync(tensor: BackendTensor): Tensor {
    const t = this.rt.tensor(tensor, 'download input');
    return new Tensor(t.shape, this.rt.read(t));
  }
  dispose(tensor: BackendTensor): void {
    if (tensor instanceof NativeTensor && tensor.owner === this.rt) this.rt.release(tensor);
  }
  reshape(tensor: BackendTensor, shape: readonly number[]): BackendTensor {
    const t = this.rt.tensor(tensor, 'reshape input');
    return this.rt.share(t, resolveReshape(t.shape, shape));
  }
  /** Frees every tensor and stops the threads. Safe twice; any use afterwards is an error. */
  close(): void {
    this.rt.close();
  }

  matmul(a: BackendTensor, b: BackendTensor, options?: MatmulOptions): BackendTensor {
    return matmul(this.rt, a, b, options);
  }
  linear(x: BackendTensor, weight: BackendTensor, bias?: BackendTensor): BackendTensor {
    return linear(this.rt, x, weight, bias);
  }
  blastForward(
    x: BackendTensor,
    B: BackendTensor,
    C: BackendTensor,
    D: BackendTensor,
    options?: BlastForwardOptions,
  ): BackendTensor {
    return blastForward(this.rt, x, B, C, D, options);
  }
  /**
   * blastForward on a chosen path: 'fused' (the decode kernel, N ≤ 8), 'three-pass' (batched GEMMs around the
   * mixing step) or 'auto' (what blastForward does: fused for N ≤ 8). For tests and benchmarks.
   */
  blastForwardPath(
    x: BackendTensor,
    B: BackendTensor,
    C: BackendTensor,
    D: BackendTensor,
    options: BlastForwardOptions,
    path: BlastPath,
  ): BackendTensor {
    return blastForward(this.rt, x, B, C, D, options, path);
  }
  lowRankForward(x: BackendTensor, U: BackendTensor, V: BackendTensor): BackendTensor {
    return lowRankForward(this.rt, x, U, V);
  }
  monarchForward(x: BackendTensor, L: BackendTensor, R: BackendTensor): BackendTensor {
    return monarchForward(this.rt, x, L, R);
  }
  blockDiagonalForward(x: BackendTensor, blocks: BackendTensor): BackendTensor {
    return blockDiagonalForward(this.rt, x, blocks);
  }

  add(a: BackendTensor, b: BackendTensor): BackendTensor {
    return binary(this.rt, 'add', a, b);
  }
  sub(a: BackendTensor, b: BackendTensor): BackendTensor {
    return binary(this.rt, 'sub', a, b);
  }
  mul(a: BackendTensor, b: BackendTensor): BackendTensor {
    return binary(this.rt, 'mul', a, b);
  }
  scale(a: BackendTensor, alpha: number, beta?: number): BackendTensor {
    return scale(this.rt, a, alpha, beta);
  }
  unary(x: BackendTensor, op: UnaryOp): BackendTensor {
    return unary(this.rt, x, op);
  }
  softmax(x: BackendTensor): BackendTensor {
    return softmax(this.rt, x);
  }
  rmsNorm(x: BackendTensor, weight: BackendTensor, eps: number): BackendTensor {
    return rmsNorm(this.rt, x, weight, eps);
  }
  layerNorm(x: BackendTensor, weight: BackendTensor, bias: BackendTensor, eps: number): BackendTensor {
    return layerNorm(this.rt, x, weight, bias, eps);
  }
  rope(x: BackendTensor, positions: Int32Array, options: RopeOptions): BackendTensor {
    return rope(this.rt, x, positions, options);
  }
  embedding(table: BackendTensor, ids: Int32Array): BackendTensor {
    return embedding(this.rt, table, ids);
  }
  attention(q: BackendTensor, k: BackendTensor, v: BackendTensor, options: AttentionOptions): BackendTensor {
    return attention(this.rt, q, k, v, options);
  }

  transpose(x: BackendTensor, perm: readonly number[]): BackendTensor {
    return transpose(this.rt, x, perm);
  }
  slice(x: BackendTensor, begin: readonly number[], size: readonly number[]): BackendTensor {
    return slice(this.rt, x, begin, size);
  }
  concat(xs: readonly BackendTensor[], axis: number): BackendTensor {
    return concat(this.rt, xs, axis);
  }

  reduce(x: BackendTensor, op: ReduceOp, axis?: number): BackendTensor {
    return reduce(this.rt, x, op, axis);
  }
  argmax(x: BackendTensor): BackendTensor {
    return argmax(this.rt, x);
  }

  choleskySolve(A: BackendTensor, B: BackendTensor): BackendTensor {
    return choleskySolve(this.rt, A, B);
  }
  eigh(A: BackendTensor): EighResult {
    return eigh(this.rt, A);
  }
  truncatedSvd(A: BackendTensor, k: number): SvdResult {
    return truncatedSvd(this.rt, A, k);
  }
}

/** A native backend (see NativeBackend.create). */
export function createNativeBackend(options: NativeBackendOptions = {}): Promise<NativeBackend> {
  return NativeBackend.create(options);
}

/** The entry point the CLI loads optional backends by: a native backend, or a rejection saying why not. */
export function createBackend(options: NativeBackendOptions = {}): Promise<Backend> {
  return NativeBackend.create(options);
}
