/// <reference types="@webgpu/types" preserve="true" />
// the public types mention GPUDevice and GPUBuffer: consumers get their declarations from @webgpu/types
import {
  type Backend,
  type BackendTensor,
  InvalidArgumentError,
  resolveReshape,
  TableBackend,
  Tensor,
} from '@blastkit/core';
import { type AdapterChoice, acquireDevice } from './device.js';
import { checkTiling, defaultTiling, type GemmTiling } from './kernels/gemm-tiling.js';
import { WEBGPU_BACKEND } from './kernels/index.js';
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
export class WebGpuBackend extends TableBackend<Runtime> implements Backend {
  private readonly rt: Runtime;
  private closed = false;

  private constructor(
    readonly device: GPUDevice,
    /** Which adapter answered, in one line: describe().engine. */
    adapter: string,
    private readonly ownsDevice: boolean,
    gemmTiling: GemmTiling | undefined,
  ) {
    const rt = new Runtime(device, 'webgpu', adapter);
    super(WEBGPU_BACKEND, rt);
    this.rt = rt;
    const tiling = gemmTiling ?? defaultTiling(this.rt.maxInvocations);
    checkTiling(tiling, this.rt.maxInvocations, this.rt.maxWorkgroupBytes);
    this.rt.gemmTiling = tiling;
    // WGSL or validation errors surface asynchronously; the runtime reports them at the next download
    device.addEventListener('uncapturederror', (event) => {
      this.rt.fail(new Error(`webgpu: ${(event as GPUUncapturedErrorEvent).error.message}`));
    });
  }

  /** Opens a device (see WebGpuBackendOptions) and returns a backend on it. */
  static async create(options: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    if (options.device) {
      return new WebGpuBackend(options.device, 'caller-provided device', false, options.gemmTiling);
    }
    const { device, adapter } = await acquireDevice(options.adapter ?? 'auto');
    try {
      return new WebGpuBackend(device, adapter, true, options.gemmTiling);
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
}

/** A WebGPU backend on the best adapter available (see WebGpuBackendOptions). */
export function createWebGpuBackend(options?: WebGpuBackendOptions): Promise<WebGpuBackend> {
  return WebGpuBackend.create(options);
}

/** The optional-backend entry point the CLI loads: a WebGPU backend on the default adapter. */
export function createBackend(): Promise<Backend> {
  return WebGpuBackend.create();
}
