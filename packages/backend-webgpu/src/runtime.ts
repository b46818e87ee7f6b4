/// <reference types="@webgpu/types" preserve="true" />
import { type BackendTensor, formatShape, InvalidArgumentError, shapeSize } from '@blastkit/core';
import { GEMM_TILING_SMALL, type GemmTiling } from './kernels/gemm-tiling.js';

// The WebGPU usage and map-mode flags by value: Dawn in Node does not install the GPUBufferUsage globals.
const USAGE_MAP_READ = 0x1;
const USAGE_COPY_SRC = 0x4;
const USAGE_COPY_DST = 0x8;
const USAGE_UNIFORM = 0x40;
const USAGE_STORAGE = 0x80;
const MAP_MODE_READ = 0x1;

/** Parameters travel as one uniform block of 64 u32 words (floats bit-cast), so one layout serves every kernel. */
export const PARAM_WORDS = 64;

/** The WGSL every kernel starts with: the parameter block and its readers. */
export const WGSL_PRELUDE = /* wgsl */ `
@group(0) @binding(0) var<uniform> u: array<vec4<u32>, ${PARAM_WORDS / 4}>;
fn pu(i: u32) -> u32 { return u[i / 4u][i % 4u]; }
fn pf(i: u32) -> f32 { return bitcast<f32>(pu(i)); }
const FLT_MAX = 0x1.fffffep+127f;
`;

/** A GPU buffer shared by a tensor and its reshapes; destroyed when the last of them is disposed. */
export class GpuStorage {
  refs = 1;
  constructor(readonly buffer: GPUBuffer) {}
}

/** A tensor handle of the WebGPU backend: a storage buffer and a shape. */
export class GpuTensor implements BackendTensor {
  readonly dtype = 'float32' as const;
  disposed = false;
  /** Set when the CPU hand-off that fills this tensor failed; download rejects with it. */
  error?: unknown;
  constructor(
    readonly shape: readonly number[],
    readonly storage: GpuStorage,
    readonly owner: Runtime,
  ) {}
  get size(): number {
    return shapeSize(this.shape);
  }
  get buffer(): GPUBuffer {
    return this.storage.buffer;
  }
}

/** A compute program: the key names everything its WGSL depends on, so one pipeline serves many shapes. */
export interface Program {
  key: string;
  source: () => string;
}

/** Bits of a float for the parameter block. */
export function f32Bits(x: number): number {
  const f = new Float32Array([x]);
  return new Uint32Array(f.buffer)[0];
}

/** Workgroup counts for `groups` workgroups along one axis, split over x and y past the per-dimension cap. */
export function grid(groups: number, maxPerDim: number): [number, number, number] {
  if (groups <= maxPerDim) return [Math.max(groups, 1), 1, 1];
  const y = Math.ceil(groups / maxPerDim);
  if (y > maxPerDim) throw new InvalidArgumentError(`webgpu: ${groups} workgroups exceed ${maxPerDim}²`);
  return [maxPerDim, y, 1];
}

/** The WGSL expression of the flat workgroup index for `grid` dispatches. */
export const FLAT_GROUP = '(wid.y * nwg.x + wid.x)';

/** A byte range of a tensor's buffer bound on its own: how tensors past the binding cap are read in parts. */
export interface BufferRange {
  tensor: GpuTensor;
  /** Must be a multiple of the device's minStorageBufferOffsetAlignment (see Runtime.rangeOf). */
  byteOffset: number;
  byteSize: number;
}

/** Dispatches recorded into one command encoder before it is submitted (see Runtime.flush). */
const BATCH_DISPATCHES = 64;
/** Each dispatch's parameter block sits in its own 256-byte slot of one uniform buffer per batch. */
const SLOT_BYTES = 256;

/**
 * The device-side machinery shared by the kernels: buffers, the pipeline cache, dispatch, and the ordering
 * of work behind CPU hand-offs (operations are synchronous, so while a hand-off is downloading, later GPU
 * work is chained behind it rather than submitted ahead of it).
 *
 * Dispatches are recorded into one command encoder and submitted together — when 64 have gathered, before
 * any write, copy-out or read, and at the end of the current JavaScript task (a microtask) — because a
 * submit and a uniform buffer per dispatch cost more host time than a small kernel takes on a GPU (a decode
 * step is hundreds of dispatches). Their parameter blocks share one uniform buffer per batch.
 */
export class Runtime {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private pending: Promise<void> | undefined;
  private failure: unknown;
  private encoder: GPUCommandEncoder | undefined;
  private uniform: GPUBuffer | undefined;
  private readonly slots = new Uint32Array((BATCH_DISPATCHES * SLOT_BYTES) / 4);
  private batched = 0;
  /** Buffers released while a recorded batch may still use them: destroyed after its submit. */
  private readonly doomed: GPUBuffer[] = [];
  private flushScheduled = false;
  /** The GEMM's register tiling (set by the backend from the device's limits or its options). */
  gemmTiling: GemmTiling = GEMM_TILING_SMALL;
  /**
   * Released buffers kept for reuse, by exact byte size: creating and destroying a buffer per operation costs
   * host time on every op of a decode step, whose outputs have the same sizes as the step before.
   */
  private readonly pool = new Map<number, GPUBuffer[]>();
  pooledBytes = 0;
  /** Most bytes the pool keeps. */
  poolLimitBytes = 1 << 30;
  /** Dispatches submitted so far (tests and benchmarks read it). */
  dispatches = 0;
  /** Command buffers submitted so far. */
  submits = 0;

  constructor(
    readonly device: GPUDevice,
    readonly backendName: string,
    /** Which adapter answered, in one line (describe()'s `engine`). */
    readonly adapter: string,
  ) {}

  get maxBindingBytes(): number {
    return this.device.limits.maxStorageBufferBindingSize;
  }
  get maxBufferBytes(): number {
    return this.device.limits.maxBufferSize;
  }
  get maxGroupsPerDim(): number {
    return this.device.limits.maxComputeWorkgroupsPerDimension;
  }
  get maxInvocations(): number {
    return this.device.limits.maxComputeInvocationsPerWorkgroup;
  }
  get maxWorkgroupBytes(): number {
    return this.device.limits.maxComputeWorkgroupStorageSize;
  }

  /**
   * A new storage buffer for a float32 tensor of `shape`; `what` names it in the size error. Tensors up to
   * maxBufferSize are allowed; kernels that bind one whole are limited to maxStorageBufferBindingSize (checked
   * at dispatch), and the ones that take large weights (linear, embedding) bind them in parts.
   */
  alloc(shape: readonly number[], what: string): GpuTensor {
    const bytes = shapeSize(shape) * 4;
    if (bytes > this.maxBufferBytes) {
      throw new InvalidArgumentError(
        `${this.backendName}: ${what} ${formatShape(shape)} needs ${bytes} bytes, over this device's maxBufferSize of ${this.maxBufferBytes} bytes`,
      );
    }
    // zero-size buffers cannot be bound; a 4-byte one stands in for empty tensors
    const size = Math.max(4, bytes);
    const reused = this.pool.get(size)?.pop();
    if (reused) {
      this.pooledBytes -= size;
      return new GpuTensor([...shape], new GpuStorage(reused), this);
    }
    const buffer = this.device.createBuffer({ size, usage: USAGE_STORAGE | USAGE_COPY_SRC | USAGE_COPY_DST });
    return new GpuTensor([...shape], new GpuStorage(buffer), this);
  }

  /**
   * The binding of elements [first, first + count) of a tensor: the range starts at the aligned byte offset
   * at or below the first element, and `skip` is how many elements the kernel must add to reach it.
   */
  rangeOf(tensor: GpuTensor, first: number, count: number): { range: BufferRange; skip: number } {
    const align = this.device.limits.minStorageBufferOffsetAlignment;
    const byteOffset = Math.floor((first * 4) / align) * align;
    const skip = first - byteOffset / 4;
    return { range: { tensor, byteOffset, byteSize: Math.max(4, (skip + count) * 4) }, skip };
  }

  /** The live GpuTensor behind a handle, or an error naming the input. */
  tensor(t: BackendTensor, what: string): GpuTensor {
    if (!(t instanceof GpuTensor) || t.owner !== this) {
      throw new InvalidArgumentError(
        `${this.backendName}: ${what} is not a tensor of this backend (a handle from another backend?)`,
      );
    }
    if (t.disposed) throw new InvalidArgumentError(`${this.backendName}: ${what} was disposed`);
    return t;
  }

  /** Runs `work` now, or after the pending CPU hand-offs so the queue sees operations in program order. */
  enqueue(work: () => void): void {
    if (!this.pending) {
      work();
      return;
    }
    this.chain(this.pending.then(work));
  }

  /** Chains asynchronous work (a CPU hand-off) that later operations must wait for. */
  enqueueAsync(work: () => Promise<void>): void {
    this.chain((this.pending ?? Promise.resolve()).then(work));
  }

  private chain(step: Promise<void>): void {
    // a failure must not skip the work chained after it: it is kept and reported by the next read
    const next = step.catch((err) => {
      this.failure ??= err;
    });
    this.pending = next;
    void next.finally(() => {
      if (this.pending === next) this.pending = undefined;
    });
  }

  /** Records an asynchronous device error; the next read rejects with it. */
  fail(err: unknown): void {
    this.failure ??= err;
  }

  /** Resolves when all chained work has been submitted. */
  async settle(): Promise<void> {
    while (this.pending) await this.pending;
    this.flush();
  }

  /** Submits the recorded batch, if any, then destroys the buffers released while it was open. */
  flush(): void {
    if (this.encoder) {
      // (a batch of copies only has no parameter blocks)
      const uniform = this.uniform;
      if (uniform) this.device.queue.writeBuffer(uniform, 0, this.slots, 0, (this.batched * SLOT_BYTES) / 4);
      this.device.queue.submit([this.encoder.finish()]);
      // destroying after submit is allowed: a buffer lives until the queued work that uses it is done
      uniform?.destroy();
      this.dispatches += this.batched;
      this.submits++;
      this.encoder = undefined;
      this.uniform = undefined;
      this.batched = 0;
    }
    for (const buffer of this.doomed.splice(0)) buffer.destroy();
  }

  private openEncoder(): GPUCommandEncoder {
    if (!this.encoder) {
      this.encoder = this.device.createCommandEncoder();
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(() => {
          this.flushScheduled = false;
          // after any chained work (a CPU hand-off) has recorded its part
          void this.settle();
        });
      }
    }
    return this.encoder;
  }

  private pipeline(program: Program): GPUComputePipeline {
    let p = this.pipelines.get(program.key);
    if (!p) {
      const module = this.device.createShaderModule({ label: program.key, code: program.source() });
      p = this.device.createComputePipeline({
        label: program.key,
        layout: 'auto',
        compute: { module, entryPoint: 'main' },
      });
      this.pipelines.set(program.key, p);
    }
    return p;
  }

  /**
   * Records `program` with the parameter words and buffers bound at 1, 2, … in order (binding 0 is the
   * parameter block). Every binding must be used by the WGSL: pipelines use the 'auto' layout. A tensor is
   * bound whole; a BufferRange binds part of one (for tensors past maxStorageBufferBindingSize).
   */
  run(
    program: Program,
    params: readonly number[],
    buffers: readonly (GpuTensor | BufferRange)[],
    groups: number[],
  ): void {
    if (params.length > PARAM_WORDS) throw new Error(`${program.key}: ${params.length} parameter words`);
    const [x, y = 1, z = 1] = groups;
    const cap = this.maxGroupsPerDim;
    if (x > cap || y > cap || z > cap) {
      throw new InvalidArgumentError(
        `${this.backendName}: ${program.key} needs workgroups [${x},${y},${z}], over maxComputeWorkgroupsPerDimension ${cap}`,
      );
    }
    const ranges = buffers.map((b) =>
      b instanceof GpuTensor ? { tensor: b, byteOffset: 0, byteSize: b.buffer.size } : b,
    );
    for (const r of ranges) {
      if (r.byteSize > this.maxBindingBytes) {
        throw new InvalidArgumentError(
          `${this.backendName}: ${program.key} binds a tensor ${formatShape(r.tensor.shape)} of ${r.byteSize} bytes, over this device's maxStorageBufferBindingSize of ${this.maxBindingBytes} bytes`,
        );
      }
    }
    const pipeline = this.pipeline(program);
    const words = new Uint32Array(PARAM_WORDS);
    params.forEach((w, i) => {
      words[i] = w >>> 0;
    });
    this.enqueue(() => {
      const encoder = this.openEncoder();
      if (!this.uniform) {
        this.uniform = this.device.createBuffer({
          size: BATCH_DISPATCHES * SLOT_BYTES,
          usage: USAGE_UNIFORM | USAGE_COPY_DST,
        });
      }
      const slot = this.batched++;
      this.slots.set(words, (slot * SLOT_BYTES) / 4);
      const bindGroup = this.device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          {
            binding: 0,
            resource: { buffer: this.uniform, offset: slot * SLOT_BYTES, size: PARAM_WORDS * 4 },
          },
          ...ranges.map((r, i) => ({
            binding: i + 1,
            resource: { buffer: r.tensor.buffer, offset: r.byteOffset, size: r.byteSize },
          })),
        ],
      });
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
      pass.end();
      if (this.batched === BATCH_DISPATCHES) this.flush();
    });
  }

  /** Records a buffer-to-buffer copy (no binding-size limit applies to copies). */
  copy(src: GpuTensor, srcElement: number, dst: GpuTensor, dstElement: number, elements: number): void {
    if (elements === 0) return;
    this.enqueue(() => {
      this.openEncoder().copyBufferToBuffer(
        src.buffer,
        srcElement * 4,
        dst.buffer,
        dstElement * 4,
        elements * 4,
      );
    });
  }

  /** Writes host floats into a tensor's buffer (in queue order). */
  write(t: GpuTensor, data: Float32Array | Int32Array | Uint32Array): void {
    // a deferred write must not see the caller's later changes to its array
    if (this.pending) data = data.slice();
    this.enqueue(() => this.writeNow(t, data));
  }

  /** Writes at once, after the recorded batch (so the batch's reads of the buffer see the old contents). */
  writeNow(t: GpuTensor, data: Float32Array | Int32Array | Uint32Array): void {
    this.flush();
    if (data.byteLength > 0) this.device.queue.writeBuffer(t.buffer, 0, data);
  }

  /** Reads a tensor's buffer back through a staging buffer, after everything queued before. */
  async read(t: GpuTensor): Promise<Float32Array> {
    await this.settle();
    if (this.failure !== undefined) {
      const err = this.failure;
      this.failure = undefined;
      throw err;
    }
    if (t.error !== undefined) throw t.error;
    return this.readNow(t);
  }

  /** Reads a buffer back without waiting for chained work: for the hand-offs, which are part of the chain. */
  async readNow(t: GpuTensor): Promise<Float32Array> {
    this.flush();
    const bytes = t.size * 4;
    if (bytes === 0) return new Float32Array(0);
    const staging = this.device.createBuffer({ size: bytes, usage: USAGE_MAP_READ | USAGE_COPY_DST });
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(t.buffer, 0, staging, 0, bytes);
    this.device.queue.submit([encoder.finish()]);
    this.submits++;
    await staging.mapAsync(MAP_MODE_READ);
    const out = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    return out;
  }

  /** Waits until the GPU has finished everything submitted (for timing). */
  async finish(): Promise<void> {
    await this.settle();
    await this.device.queue.onSubmittedWorkDone();
  }

  /**
   * Drops one reference to the tensor's buffer; with the last, the buffer goes to the pool (or is destroyed
   * past the pool's limit), in queue order. Reuse needs no wait: the queue runs the buffer's earlier uses
   * before the commands recorded after them, whichever tensor they belong to. Kernels write every element of
   * their outputs, so a reused buffer's old contents never show.
   */
  release(t: GpuTensor): void {
    if (t.disposed) return;
    t.disposed = true;
    if (--t.storage.refs > 0) return;
    const buffer = t.storage.buffer;
    this.enqueue(() => {
      if (this.pooledBytes + buffer.size <= this.poolLimitBytes) {
        const list = this.pool.get(buffer.size);
        if (list) list.push(buffer);
        else this.pool.set(buffer.size, [buffer]);
        this.pooledBytes += buffer.size;
      } else if (this.encoder) {
        // a recorded batch may still read or write the buffer: destroy it after that batch is submitted
        this.doomed.push(buffer);
      } else buffer.destroy();
    });
  }

  /** Destroys the pooled buffers (after the recorded batch that may use them is submitted). */
  trimPool(): void {
    this.enqueue(() => {
      this.flush();
      for (const list of this.pool.values()) for (const buffer of list) buffer.destroy();
      this.pool.clear();
      this.pooledBytes = 0;
    });
  }
}
