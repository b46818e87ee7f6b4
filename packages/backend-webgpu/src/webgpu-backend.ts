/// <reference types="@webgpu/types" preserve="true" />
// the public types mention GPUDevice and GPUBuffer: consumers get their declarations from @webgpu/types
import {
  type AttentionOptions,
  BACKEND_SPECIFICATION_VERSION,
  type Backend,
  type BackendDescription,
  type BackendTensor,
  type BlastForwardOptions,
  type EighResult,
  InvalidArgumentError,
  isSoftwareAdapter,
  type MatmulOptions,
  type ReduceOp,
  type RopeOptions,
  resolveReshape,
  type SvdResult,
  Tensor,
  type UnaryOp,
} from '@blastkit/core';
import { type AdapterChoice, acquireDevice } from './device.js';
import { argmax } from './kernels/argmax.js';
import { attention } from './kernels/attention.js';
import { binary } from './kernels/binary.js';
import { blastForward } from './kernels/blast-forward.js';
import { blockDiagonalForward } from './kernels/block-diagonal-forward.js';
import { choleskySolve } from './kernels/cholesky-solve.js';
import { concat } from './kernels/concat.js';
import { eigh } from './kernels/eigh.js';
import { embedding } from './kernels/embedding.js';
import { checkTiling, defaultTiling, type GemmTiling } from './kernels/gemm-tiling.js';
import { layerNorm } from './kernels/layer-norm.js';
import { linear } from './kernels/linear.js';
import { lowRankForward } from './kernels/low-rank-forward.js';
import { matmul } from './kernels/matmul.js';
import { monarchForward } from './kernels/monarch-forward.js';
import { reduce } from './kernels/reduce.js';
import { rmsNorm } from './kernels/rms-norm.js';
import { rope } from './kernels/rope.js';
import { scale } from './kernels/scale.js';
import { slice } from './kernels/slice.js';
import { softmax } from './kernels/softmax.js';
import { transpose } from './kernels/transpose.js';
import { truncatedSvd } from './kernels/truncated-svd.js';
import { unary } from './kernels/unary.js';
import { GpuTensor, Runtime } from './runtime.js';

export interface WebGpuBackendOptions {
  /** 'auto' (default): the platform's GPU, else software; 'software': OpenGL ES / llvmpipe in Node. */
  adapter?: AdapterChoice;
  /** A device you already hold (the backend then does not destroy it on close). */
  device?: GPUDevice;
  /**
   * The GEMM's register tiling (default: 64×64 tiles of 4×4 per invocation where the device allows 256
   * invocations per workgroup, else 64×32). Checked against the device's limits.
   */
  gemmTiling?: GemmTiling;
}

/**
 * The Backend interface on WebGPU: handles are storage buffers with a shape, operations record and submit
 * compute passes at once, `download` maps a staging buffer. Everything is float32.
 */
export class WebGpuBackend implements Backend {
  readonly specificationVersion = BACKEND_SPECIFICATION_VERSION;
  readonly name = 'webgpu';
  private readonly rt: Runtime;
  private closed = false;

  private constructor(
    readonly device: GPUDevice,
    /** Which adapter answered, in one line (shown by the CLI and the tests). */
    readonly adapterInfo: string,
    private readonly ownsDevice: boolean,
    gemmTiling: GemmTiling | undefined,
  ) {
    this.rt = new Runtime(device, 'webgpu');
    const tiling = gemmTiling ?? defaultTiling(this.rt.maxInvocations);
    checkTiling(tiling, this.rt.maxInvocations, this.rt.maxWorkgroupBytes);
    this.rt.gemmTiling = tiling;
    // WGSL or validation errors surface asynchronously; the runtime reports them at the next download
    device.addEventListener('uncapturederror', (event) => {
      this.rt.fail(new Error(`webgpu: ${(event as GPUUncapturedErrorEvent).error.message}`));
    });
  }

  describe(): BackendDescription {
    return {
      name: 'webgpu',
      device: 'gpu',
      engine: this.adapterInfo,
      software: isSoftwareAdapter(this.adapterInfo),
    };
  }

  /** Opens a device (see WebGpuBackendOptions) and returns a backend on it. */
  static async create(options: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    if (options.device) {
      return new WebGpuBackend(options.device, 'caller-provided device', false, options.gemmTiling);
    }
    const { device, adapterInfo } = await acquireDevice(options.adapter ?? 'auto');
    try {
      return new WebGpuBackend(device, adapterInfo, true, options.gemmTiling);
    } catch (err) {
      device.destroy();
      throw err;
    }
  }

  /** The largest tensor this backend can hold, in bytes (the device's maxBufferSize). */
  get maxTensorBytes(): number {
    return this.rt.maxBufferBytes;
  }
  /**
   * The device's storage-binding cap in bytes: the largest tensor a kernel binds whole. Linear weights and
   * embedding tables may be larger (they are read in parts); other operands may not.
   */
  get maxBindingBytes(): number {
    return this.rt.maxBindingBytes;
  }
  /** The GEMM's register tiling in use. */
  get gemmTiling(): GemmTiling {
    return { ...this.rt.gemmTiling };
  }
  /** Dispatches and submits so far (see the runtime's batching). */
  get counters(): { dispatches: number; submits: number } {
    return { dispatches: this.rt.dispatches, submits: this.rt.submits };
  }
  /** Bytes of released buffers kept for reuse by later tensors of the same size (at most 1 GiB). */
  get pooledBytes(): number {
    return this.rt.pooledBytes;
  }
  /** Destroys the buffers kept for reuse. */
  trimPool(): void {
    this.rt.trimPool();
  }
  /** Resolves when the GPU has finished all work issued so far: for timing, not needed for correctness. */
  finish(): Promise<void> {
    return this.rt.finish();
  }

  upload(tensor: Tensor): BackendTensor {
    if (!(tensor instanceof Tensor)) {
      throw new InvalidArgumentError('webgpu: upload expects a host Tensor from @blastkit/core');
    }
    const t = this.rt.alloc(tensor.shape, 'uploaded tensor');
    this.rt.write(t, tensor.data);
    return t;
  }
  async download(tensor: BackendTensor): Promise<Tensor> {
    const t = this.rt.tensor(tensor, 'download input');
    return new Tensor(t.shape, await this.rt.read(t));
  }
  dispose(tensor: BackendTensor): void {
    if (tensor instanceof GpuTensor && tensor.owner === this.rt) this.rt.release(tensor);
  }
  reshape(tensor: BackendTensor, shape: readonly number[]): BackendTensor {
    const t = this.rt.tensor(tensor, 'reshape input');
    // shares the buffer: a reshape of a row-major tensor is the same bytes
    t.storage.refs++;
    return new GpuTensor(resolveReshape(t.shape, shape), t.storage, this.rt);
  }
  /** Waits for queued work, then destroys the device (if this backend opened it). Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.rt.settle();
    if (this.ownsDevice) this.device.destroy();
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

/** A WebGPU backend on the best adapter available (see WebGpuBackendOptions). */
export function createWebGpuBackend(options?: WebGpuBackendOptions): Promise<WebGpuBackend> {
  return WebGpuBackend.create(options);
}

/** The optional-backend entry point the CLI loads: a WebGPU backend on the default adapter. */
export function createBackend(): Promise<Backend> {
  return WebGpuBackend.create();
}
