import { type BackendTensor, formatShape, InvalidArgumentError, ShapeError, shapeSize } from '@blastkit/core';
import type { BufferId, NativeAddon, NativeContext, NativeStats } from './native-addon.js';

/** A native buffer shared by a tensor and its reshapes; freed (to the addon's pool) with the last of them. */
export class NativeStorage {
  refs = 1;
  freed = false;
  constructor(
    readonly id: BufferId,
    readonly bytes: number,
  ) {}
}

/** A tensor handle of the native backend: a 64-byte aligned native buffer and a shape. */
export class NativeTensor implements BackendTensor {
  readonly dtype = 'float32' as const;
  disposed = false;
  constructor(
    readonly shape: readonly number[],
    readonly storage: NativeStorage,
    readonly owner: Runtime,
  ) {}
  get size(): number {
    return shapeSize(this.shape);
  }
  get id(): BufferId {
    return this.storage.id;
  }
}

/**
 * The JavaScript half of the backend's state: turns handles into buffer ids (checking they belong here and are
 * alive), allocates and frees tensors. A handle that is dropped without `dispose` is freed when it is
 * garbage-collected, so forgetting to dispose costs memory for a while, not for ever.
 */
export class Runtime {
  closed = false;
  private readonly finalizer: FinalizationRegistry<BufferId>;

  constructor(
    readonly native: NativeAddon,
    readonly ctx: NativeContext,
    readonly backendName: string,
    /** What answers, in one line (describe()'s `engine`), e.g. 'Eigen 3.4.0 (avx2+fma), 2 threads'. */
    readonly engine: string,
  ) {
    this.finalizer = new FinalizationRegistry((id) => {
      if (this.closed) return;
      try {
        this.native.free(this.ctx, id);
      } catch {
        // already gone with the context
      }
    });
  }

  /** The live NativeTensor behind a handle, or an error naming the input. */
  tensor(t: BackendTensor, what: string): NativeTensor {
    if (!(t instanceof NativeTensor) || t.owner !== this) {
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

  /** A new tensor of `shape` (contents undefined until a kernel writes it); `what` names it in errors. */
  alloc(shape: readonly number[], what: string): NativeTensor {
    this.checkOpen();
    if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new ShapeError(`${this.backendName}: ${what} has shape ${formatShape(shape)}, not sizes`);
    }
    const size = shapeSize(shape);
    if (size * 4 > 2 ** 46) {
      throw new ShapeError(`${this.backendName}: ${what} ${formatShape(shape)} has too many elements`);
    }
    const bytes = size * 4;
    const id = this.native.alloc(this.ctx, bytes);
    const storage = new NativeStorage(id, bytes);
    const t = new NativeTensor([...shape], storage, this);
    this.finalizer.register(storage, id, storage);
    return t;
  }

  /** Another handle on the same storage (a reshape). */
  share(t: NativeTensor, shape: readonly number[]): NativeTensor {
    t.storage.refs++;
    return new NativeTensor([...shape], t.storage, this);
  }

  /** Disposes a handle; the buffer goes back to the addon's pool with its last handle. Idempotent. */
  release(t: NativeTensor): void {
    if (t.disposed) return;
    t.disposed = true;
    const s = t.storage;
    if (--s.refs > 0 || s.freed) return;
    s.freed = true;
    this.finalizer.unregister(s);
    if (!this.closed) this.native.free(this.ctx, s.id);
  }

  write(t: NativeTensor, data: Float32Array): void {
    this.native.write(this.ctx, t.id, data);
  }

  read(t: NativeTensor): Float32Array {
    return this.native.read(this.ctx, t.id, t.size);
  }

  stats(): NativeStats {
    this.checkOpen();
    return this.native.stats(this.ctx);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close(this.ctx);
  }
}
