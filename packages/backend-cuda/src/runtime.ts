import { type BackendTensor, formatShape, InvalidArgumentError, ShapeError, shapeSize } from '@blastkit/core';
import type { BufferId, NativeAddon, NativeContext, NativeStats } from './native-addon.js';

/** A device buffer shared by a tensor and its reshapes; freed when the last of them is disposed. */
export class CudaStorage {
  refs = 1;
  constructor(
    readonly id: BufferId,
    readonly bytes: number,
  ) {}
}

/** A tensor handle of the CUDA backend: a device buffer (cudaMalloc) and a shape. */
export class CudaTensor implements BackendTensor {
  readonly dtype = 'float32' as const;
  disposed = false;
  constructor(
    readonly shape: readonly number[],
    readonly storage: CudaStorage,
    readonly owner: Runtime,
  ) {}
  get size(): number {
    return shapeSize(this.shape);
  }
  get id(): BufferId {
    return this.storage.id;
  }
}

/** Scratch slots of the addon the kernels use (slot 2 is free; the addon keeps its own for host data). */
export const SCRATCH_Z = 0;
export const SCRATCH_W = 1;

/**
 * The JavaScript half of the device state: turns handles into buffer ids (checking they belong here and are
 * alive), allocates and frees tensors, moves data. All work goes to the addon's one stream in call order.
 */
export class Runtime {
  closed = false;
  /**
   * Freed buffers kept for reuse, by exact byte size. cudaFree synchronizes the whole device and cudaMalloc
   * is slow, so freeing each op's output would stall the stream once per op (a decode step is hundreds of
   * them); shapes repeat exactly from one step to the next, so exact sizes find their buffers again. Reuse is
   * safe without waiting: the one stream runs the old buffer's last use before anything queued after it.
   */
  private readonly pool = new Map<number, BufferId[]>();
  private pooled = { buffers: 0, bytes: 0 };

  constructor(
    readonly native: NativeAddon,
    readonly ctx: NativeContext,
    readonly backendName: string,
    /** The device in one line (describe()'s `engine`), e.g. "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)". */
    readonly device: string,
    /** Most bytes the pool keeps; a buffer freed past it goes back to CUDA. */
    readonly poolLimitBytes = 1 << 30,
  ) {}

  /** Buffers and bytes held by the pool (counted as live by the addon: they are still allocated). */
  get pooledMemory(): { buffers: number; bytes: number } {
    return { ...this.pooled };
  }

  /** Returns every pooled buffer to CUDA. */
  trimPool(): void {
    for (const ids of this.pool.values()) for (const id of ids) this.native.free(this.ctx, id);
    this.pool.clear();
    this.pooled = { buffers: 0, bytes: 0 };
  }

  /** The live CudaTensor behind a handle, or an error naming the input. */
  tensor(t: BackendTensor, what: string): CudaTensor {
    if (!(t instanceof CudaTensor) || t.owner !== this) {
      throw new InvalidArgumentError(
        `${this.backendName}: ${what} is not a tensor of this backend (a handle from another backend?)`,
      );
    }
    if (t.disposed) throw new InvalidArgumentError(`${this.backendName}: ${what} was disposed`);
    this.checkOpen();
    return t;
  }

  checkOpen(): void {
    if (this.closed) throw new InvalidArgumentError(`${this.backendName}: the backend is closed`);
  }

  /** A new device buffer for a float32 tensor of `shape`; `what` names it in an allocation error. */
  alloc(shape: readonly number[], what: string): CudaTensor {
    this.checkOpen();
    const size = shapeSize(shape);
    if (size * 4 > Number.MAX_SAFE_INTEGER) {
      throw new ShapeError(`${this.backendName}: ${what} ${formatShape(shape)} has too many elements`);
    }
    const bytes = size * 4;
    const reused = this.pool.get(bytes)?.pop();
    if (reused !== undefined) {
      this.pooled.buffers--;
      this.pooled.bytes -= bytes;
      return new CudaTensor([...shape], new CudaStorage(reused, bytes), this);
    }
    let id: BufferId;
    try {
      id = this.native.alloc(this.ctx, bytes);
    } catch (err) {
      if (this.pooled.buffers === 0) throw allocationError(this.backendName, what, shape, err);
      // out of memory with buffers parked in the pool: give them back and try once more
      this.trimPool();
      try {
        id = this.native.alloc(this.ctx, bytes);
      } catch (again) {
        throw allocationError(this.backendName, what, shape, again);
      }
    }
    return new CudaTensor([...shape], new CudaStorage(id, bytes), this);
  }

  /** Disposes a handle; the buffer is freed with its last handle. Idempotent. */
  release(t: CudaTensor): void {
    if (t.disposed) return;
    t.disposed = true;
    if (--t.storage.refs > 0 || this.closed) return;
    const { id, bytes } = t.storage;
    if (this.pooled.bytes + bytes > this.poolLimitBytes) {
      this.native.free(this.ctx, id);
      return;
    }
    const ids = this.pool.get(bytes);
    if (ids) ids.push(id);
    else this.pool.set(bytes, [id]);
    this.pooled.buffers++;
    this.pooled.bytes += bytes;
  }

  write(t: CudaTensor, data: Float32Array): void {
    this.native.write(this.ctx, t.id, 0, data);
  }

  read(t: CudaTensor): Float32Array {
    return this.native.read(this.ctx, t.id, 0, t.size);
  }

  /** A scratch buffer of at least `elements` float32 entries (persistent; reused by later operations). */
  scratch(slot: number, elements: number): BufferId {
    return this.native.scratch(this.ctx, slot, elements * 4);
  }

  stats(): NativeStats {
    this.checkOpen();
    return this.native.stats(this.ctx);
  }
}

function allocationError(backend: string, what: string, shape: readonly number[], err: unknown): Error {
  const why = err instanceof Error ? err.message : String(err);
  return new Error(`${backend}: cannot allocate ${what} ${formatShape(shape)}: ${why}`);
}
