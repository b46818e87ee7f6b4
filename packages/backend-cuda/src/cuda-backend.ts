import {
  type Backend,
  type BackendTensor,
  InvalidArgumentError,
  type MatmulOptions,
  resolveReshape,
  TableBackend,
  Tensor,
} from '@blastkit/core';
import { type CudaHalfTensor, disposeHalf, type HalfDtype, matmulHalf, toHalf } from './kernels/half-gemm.js';
import { CUDA_BACKEND } from './kernels/index.js';
import { loadAddon, type NativeAddon, type NativeStats } from './native-addon.js';
import { type CudaProbe, probeCuda } from './probe.js';
import { CudaTensor, Runtime } from './runtime.js';

export interface CudaBackendOptions {
  /** CUDA device index (default 0). */
  device?: number;
  /**
   * Let cuBLAS round float32 GEMM inputs to TF32 on tensor cores (CUBLAS_COMPUTE_32F_FAST_TF32). Faster,
   * about 1e-3 relative error: off by default, and the conformance suite runs without it.
   */
  tf32?: boolean;
}

/** Thrown by CudaBackend.create when probe() says the backend cannot run; the message carries the reason. */
export class CudaUnavailableError extends Error {
  override name = 'CudaUnavailableError';
  constructor(readonly probe: CudaProbe) {
    super(`cuda backend unavailable: ${probe.reason}`);
  }
}

/**
 * The Backend interface on CUDA through the blastkit_cuda.node addon: handles are device buffers (one
 * cudaMalloc each, freed on dispose), GEMMs go to cuBLAS (float32 in, float32 accumulation), everything else
 * to the addon's kernels, all on one stream in call order. `download` waits for the stream.
 */
export class CudaBackend extends TableBackend<Runtime> implements Backend {
  private readonly rt: Runtime;

  /** Use CudaBackend.create (or openCudaBackend with an addon of your own, for tests). */
  constructor(
    native: NativeAddon,
    /** The device in one line, e.g. "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)": describe().engine. */
    device: string,
    options: CudaBackendOptions = {},
  ) {
    const ctx = native.open(options.device ?? 0, options.tf32 ?? false);
    const rt = new Runtime(native, ctx, 'cuda', device);
    super(CUDA_BACKEND, rt);
    this.rt = rt;
  }

  /**
   * Synchronous: whether this machine can run the backend, and if not, why (no native build, the addon not
   * loading, no driver, no device, no cuBLAS). Never throws and opens no context.
   */
  static probe(device = 0): CudaProbe {
    return probeCuda(device);
  }

  /** A backend on `options.device`; rejects with a CudaUnavailableError naming probe()'s reason. */
  static async create(options: CudaBackendOptions = {}): Promise<CudaBackend> {
    const device = options.device ?? 0;
    const probe = probeCuda(device);
    const load = loadAddon();
    if (!probe.available || !load.ok) throw new CudaUnavailableError(probe);
    return new CudaBackend(load.addon, probe.device ?? `CUDA device ${device}`, options);
  }

  /**
   * Live device memory as the addon counts it: tensors (buffers, bytes, peak), scratch, cudaMalloc/cudaFree
   * calls; `pooledBuffers`/`pooledBytes` of those are freed tensors kept for reuse (see `trimPool`).
   */
  get memory(): NativeStats & { pooledBuffers: number; pooledBytes: number } {
    const pooled = this.rt.pooledMemory;
    return { ...this.rt.stats(), pooledBuffers: pooled.buffers, pooledBytes: pooled.bytes };
  }

  /** Returns the buffers kept for reuse to CUDA (they are also returned when an allocation runs out). */
  trimPool(): void {
    this.rt.checkOpen();
    this.rt.trimPool();
  }

  /** Resolves when the device has finished all work issued so far (for timing; reads wait on their own). */
  async finish(): Promise<void> {
    this.rt.checkOpen();
    this.rt.native.synchronize(this.rt.ctx);
  }

  upload(tensor: Tensor): BackendTensor {
    if (!(tensor instanceof Tensor)) {
      throw new InvalidArgumentError('cuda: upload expects a host Tensor from @blastkit/core');
    }
    const t = this.rt.alloc(tensor.shape, 'uploaded tensor');
    this.rt.write(t, tensor.data);
    return t;
  }
  async download(tensor: BackendTensor): Promise<Tensor> {
    const t = this.rt.tensor(tensor, 'download input');
    return new Tensor(t.shape, this.rt.read(t));
  }
  /** Synchronous read (this backend's reads block anyway): the copy `download` resolves to. */
  readSync(tensor: BackendTensor): Tensor {
    const t = this.rt.tensor(tensor, 'readSync input');
    return new Tensor(t.shape, this.rt.read(t));
  }
  dispose(tensor: BackendTensor): void {
    if (tensor instanceof CudaTensor && tensor.owner === this.rt) this.rt.release(tensor);
  }
  reshape(tensor: BackendTensor, shape: readonly number[]): BackendTensor {
    const t = this.rt.tensor(tensor, 'reshape input');
    // shares the buffer: a reshape of a row-major tensor is the same bytes
    t.storage.refs++;
    return new CudaTensor(resolveReshape(t.shape, shape), t.storage, this.rt);
  }
  /** Waits for the stream, frees every buffer of this backend, destroys its stream and cuBLAS handle. Safe twice. */
  async close(): Promise<void> {
    if (this.rt.closed) return;
    this.rt.closed = true;
    this.rt.native.close(this.rt.ctx);
  }

  // ---- beyond the interface: half-precision GEMMs for benchmarks -----------------------------------

  /** A float16 or bfloat16 copy of a tensor (round to nearest even), for matmulHalf. */
  toHalf(x: BackendTensor, dtype: HalfDtype): CudaHalfTensor {
    return toHalf(this.rt, this.rt.tensor(x, 'toHalf input'), dtype);
  }
  /** op(A)·op(B) of two half tensors with float32 accumulation and a float32 result (cublasGemmEx). */
  matmulHalf(a: CudaHalfTensor, b: CudaHalfTensor, options?: MatmulOptions): BackendTensor {
    return matmulHalf(this.rt, a, b, options);
  }
  disposeHalf(t: CudaHalfTensor): void {
    disposeHalf(this.rt, t);
  }
}

/** A backend on an addon you provide (a test double, or one loaded from elsewhere); skips probe(). */
export function openCudaBackend(
  native: NativeAddon,
  options: CudaBackendOptions & { engine?: string } = {},
): CudaBackend {
  return new CudaBackend(native, options.engine ?? 'caller-provided addon', options);
}

/** A CUDA backend on device 0 (see CudaBackendOptions); rejects naming probe()'s reason when it cannot run. */
export function createCudaBackend(options?: CudaBackendOptions): Promise<CudaBackend> {
  return CudaBackend.create(options);
}

/** The optional-backend entry point the CLI loads (`--backend cuda`). */
export function createBackend(options?: CudaBackendOptions): Promise<Backend> {
  return CudaBackend.create(options);
}
