import {
  type Backend,
  type BackendTensor,
  defineBackend,
  InvalidArgumentError,
  isSoftwareAdapter,
  resolveReshape,
  TableBackend,
  Tensor,
} from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import type { TfjsEngineName } from './engine/engine-names.js';
import { selectTfjsEngine } from './engine/select.js';
import * as k from './kernels/index.js';
import type { TfjsKernel } from './kernels/kernel.js';
import { TfjsRuntime } from './tfjs-runtime.js';
import { TfjsTensor } from './tfjs-tensor.js';

export interface TfjsBackendOptions {
  /**
   * The engine, or engines best first (names of TFJS_ENGINE_NAMES). Default: the comma-separated list in
   * $BLASTKIT_TFJS_ENGINE, else tfjs-node-gpu, tfjs-node, wasm, webgpu, cpu — the first that works here.
   */
  engine?: string | readonly string[];
  /**
   * Run the CPU hand-offs (choleskySolve, eigh, truncatedSvd) asynchronously, as on WebGPU where tfjs cannot
   * read back synchronously, even on engines that can. For tests of that path; default false.
   */
  asyncHandoffs?: boolean;
}

const reshapeKernel: TfjsKernel<{ shape: readonly number[] }> = {
  name: 'reshape',
  shapes: ([x], { shape }) => [resolveReshape(x, shape)],
  run: ([x], { shape }) => [tf.reshape(x, resolveReshape(x.shape, shape))],
};

/** The tfjs backend as data: each operation of the Backend interface is a kernel of `./kernels`, run by name. */
export const TFJS_BACKEND = defineBackend<TfjsRuntime>({
  name: 'tfjs',
  describe: (rt) => {
    // tfjs-node-gpu says "on the CPU" when TensorFlow finds no GPU device (always, with TF 2.x ≥ 2.10 staged)
    const onGpu = rt.engine === 'webgpu' || (rt.engine === 'tfjs-node-gpu' && !/on the CPU/.test(rt.detail));
    return {
      name: 'tfjs',
      device: onGpu ? 'gpu' : 'cpu',
      engine: `${rt.engine}: ${rt.detail}`,
      software: onGpu && isSoftwareAdapter(rt.detail),
    };
  },
  kernels: {
    matmul: (rt, a, b, options = {}) => rt.one(k.matmul, [a, b], options),
    linear: (rt, x, weight, bias) => rt.one(k.linear, bias ? [x, weight, bias] : [x, weight], undefined),
    blastForward: (rt, x, B, C, D, options = {}) => rt.one(k.blastForward, [x, B, C, D], options),
    lowRankForward: (rt, x, U, V) => rt.one(k.lowRankForward, [x, U, V], undefined),
    monarchForward: (rt, x, L, R) => rt.one(k.monarchForward, [x, L, R], undefined),
    blockDiagonalForward: (rt, x, blocks) => rt.one(k.blockDiagonalForward, [x, blocks], undefined),
    add: (rt, a, b) => rt.one(k.add, [a, b], undefined),
    sub: (rt, a, b) => rt.one(k.sub, [a, b], undefined),
    mul: (rt, a, b) => rt.one(k.mul, [a, b], undefined),
    scale: (rt, a, alpha, beta = 0) => rt.one(k.scale, [a], { alpha, beta }),
    unary: (rt, x, op) => rt.one(k.unary, [x], { op }),
    softmax: (rt, x) => rt.one(k.softmax, [x], undefined),
    rmsNorm: (rt, x, weight, eps) => rt.one(k.rmsNorm, [x, weight], { eps }),
    layerNorm: (rt, x, weight, bias, eps) => rt.one(k.layerNorm, [x, weight, bias], { eps }),
    rope: (rt, x, positions, options) => {
      // copies: a deferred run reads them later, after the caller may have reused the arrays
      const opts = { ...options, invFrequencies: options.invFrequencies?.slice() };
      return rt.one(k.rope, [x], { positions: positions.slice(), options: opts });
    },
    embedding: (rt, table, ids) => rt.one(k.embedding, [table], { ids: ids.slice() }),
    attention: (rt, q, kk, v, options) => rt.one(k.attention, [q, kk, v], { ...options }),
    transpose: (rt, x, perm) => rt.one(k.transpose, [x], { perm: [...perm] }),
    slice: (rt, x, begin, size) => rt.one(k.slice, [x], { begin: [...begin], size: [...size] }),
    concat: (rt, xs, axis) => rt.one(k.concat, xs, { axis }),
    reduce: (rt, x, op, axis) => rt.one(k.reduce, [x], { op, axis }),
    argmax: (rt, x) => rt.one(k.argmax, [x], undefined),
    // CPU hand-offs (see the kernels' `handoff`)
    choleskySolve: (rt, A, B) => rt.one(k.choleskySolve, [A, B], undefined),
    eigh: (rt, A) => {
      const [values, vectors] = rt.exec(k.eigh, [A], undefined);
      return { values, vectors };
    },
    truncatedSvd: (rt, A, kk) => {
      const [U, S, V] = rt.exec(k.truncatedSvd, [A], { k: kk });
      return { U, S, V };
    },
  },
});

/**
 * The Backend interface on TensorFlow.js. Handles wrap tfjs tensors (kept out of any caller's tf.tidy and
 * freed by `dispose`); every operation checks its inputs, then runs its tfjs ops inside tf.tidy so no
 * intermediate survives. Cholesky solves, eigh and truncated SVD are CPU hand-offs to the @blastkit/core
 * reference. tfjs has one active engine per process: a backend refuses to run once another engine has been
 * made active.
 */
export class TfjsBackend extends TableBackend<TfjsRuntime> implements Backend {
  private readonly rt: TfjsRuntime;

  private constructor(rt: TfjsRuntime) {
    super(TFJS_BACKEND, rt);
    this.rt = rt;
  }

  /** Selects the engine (see TfjsBackendOptions) and returns a backend on it. */
  static async create(options: TfjsBackendOptions = {}): Promise<TfjsBackend> {
    const preference = typeof options.engine === 'string' ? [options.engine] : options.engine;
    const engine = await selectTfjsEngine(preference ? [...preference] : undefined);
    // tfjs-backend-webgpu can only read back asynchronously in Node (its readSync needs OffscreenCanvas)
    const sync = engine.name !== 'webgpu' && !options.asyncHandoffs;
    return new TfjsBackend(new TfjsRuntime(engine.name, engine.detail, sync));
  }

  /** The engine this backend runs on (describe().engine says it with the engine's details). */
  get engine(): TfjsEngineName {
    return this.rt.engine;
  }

  /** Handles alive on this backend (made and not yet disposed). */
  get liveTensors(): number {
    return this.rt.live.size;
  }

  upload(tensor: Tensor): BackendTensor {
    if (!(tensor instanceof Tensor)) {
      throw new InvalidArgumentError('tfjs backend: upload expects a host Tensor from @blastkit/core');
    }
    this.rt.checkUsable('upload');
    const t = this.rt.track(new TfjsTensor(tensor.shape, this.rt));
    // a copy: tfjs' CPU engine keeps the array it is given, and the caller may reuse theirs
    t.value = tf.keep(tf.tensor(tensor.data.slice(), [...tensor.shape], 'float32'));
    return t;
  }

  async download(tensor: BackendTensor): Promise<Tensor> {
    const t = this.rt.handle(tensor, 'download input', true);
    if (t.ready) await t.ready;
    if (t.error !== undefined) throw t.error;
    if (!t.value) throw new InvalidArgumentError('tfjs backend: download input was disposed');
    const values = (await t.value.data()) as Float32Array;
    // a copy: on the CPU engine data() is the tensor's own array
    return new Tensor(t.shape, Float32Array.from(values));
  }

  dispose(tensor: BackendTensor): void {
    if (!(tensor instanceof TfjsTensor) || tensor.owner !== this.rt || tensor.disposed) return;
    tensor.disposed = true;
    this.rt.live.delete(tensor);
    const free = () => {
      tensor.value?.dispose();
      tensor.value = undefined;
    };
    // with deferred work queued, free after it: an earlier deferred operation may still read this tensor
    if (this.rt.tail) this.rt.chain(free);
    else free();
  }

  reshape(tensor: BackendTensor, shape: readonly number[]): BackendTensor {
    return this.rt.one(reshapeKernel, [tensor], { shape: [...shape] });
  }

  /** Waits for deferred work, then frees every tensor this backend still holds. Safe to call twice. */
  async close(): Promise<void> {
    if (this.rt.closed) return;
    if (this.rt.tail) await this.rt.tail;
    for (const t of [...this.rt.live]) this.dispose(t);
    this.rt.closed = true;
  }
}

/** The optional-backend entry point the CLI loads (`--backend tfjs`): a TfjsBackend on the best engine here. */
export function createBackend(options?: TfjsBackendOptions): Promise<TfjsBackend> {
  return TfjsBackend.create(options);
}
