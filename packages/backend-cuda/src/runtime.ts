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

  constructor(
    readonly native: NativeAddon,
    readonly ctx: NativeContext,
    readonly backendName: string,
  ) {}

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
    let id: BufferId;
    try {
      id = this.native.alloc(this.ctx, size * 4);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`${this.backendName}: cannot allocate ${what} ${formatShape(shape)}: ${why}`);
    }
    return new CudaTensor([...shape], new CudaStorage(id, size * 4), this);
  }

  /** Disposes a handle; the buffer is freed with its last handle. Idempotent. */
  release(t: CudaTensor): void {
    if (t.disposed) return;
    t.disposed = true;
    if (--t.storage.refs === 0 && !this.closed) this.native.free(this.ctx, t.storage.id);
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
