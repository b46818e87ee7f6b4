import {
  type Backend,
  type BackendTensor,
  type BlastForwardOptions,
  InvalidArgumentError,
  resolveReshape,
  TableBackend,
  Tensor,
} from '@blastkit/core';
import { NATIVE_BACKEND } from './kernels/index.js';
import { type BlastPath, blastForward } from './kernels/products.js';
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

/** describe()'s engine: 'Eigen 3.4.0 (avx2+fma), 2 threads'. */
function engineLine(info: NativeInfo, threads: number): string {
  const variant = VARIANT_LABELS[info.variant] ?? info.variant;
  return `Eigen ${info.eigen} (${variant}), ${threads} thread${threads === 1 ? '' : 's'}`;
}

/**
 * The Backend interface on the CPU through the blastkit_native addon: tensors live in 64-byte aligned native
 * memory (freed buffers are kept by size and reused), GEMMs and the factorizations run on Eigen 3.4, the BLAST
 * mixing, a fused BLAST decode, Monarch, attention, RoPE and the norms on the addon's own C++, over a
 * persistent thread pool. Every kernel runs when called; `download` only copies.
 */
export class NativeBackend extends TableBackend<Runtime> implements Backend {
  private readonly rt: Runtime;

  /** Use NativeBackend.create (or createBackend). */
  constructor(
    native: NativeAddon,
    /** What the addon was compiled for and with. */
    readonly info: NativeInfo,
    /** The pool's thread count, the calling thread included. */
    readonly threads: number,
  ) {
    const rt = new Runtime(native, native.open(threads), 'native', engineLine(info, threads));
    super(NATIVE_BACKEND, rt);
    this.rt = rt;
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
}

/** A native backend (see NativeBackend.create). */
export function createNativeBackend(options: NativeBackendOptions = {}): Promise<NativeBackend> {
  return NativeBackend.create(options);
}

/** The entry point the CLI loads optional backends by: a native backend, or a rejection saying why not. */
export function createBackend(options: NativeBackendOptions = {}): Promise<Backend> {
  return NativeBackend.create(options);
}
