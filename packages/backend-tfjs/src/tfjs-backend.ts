import {
  type AttentionOptions,
  BACKEND_SPECIFICATION_VERSION,
  type Backend,
  type BackendDescription,
  type BackendTensor,
  type BlastForwardOptions,
  type EighResult,
  formatShape,
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
import * as tf from '@tensorflow/tfjs-core';
import { TFJS_BACKEND_NAME, type TfjsEngineName } from './engine/engine-names.js';
import { selectTfjsEngine } from './engine/select.js';
import * as k from './kernels/index.js';
import type { TfjsKernel } from './kernels/kernel.js';
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

/**
 * The Backend interface on TensorFlow.js. Handles wrap tfjs tensors (kept out of any caller's tf.tidy and
 * freed by `dispose`); every operation checks its inputs, then runs its tfjs ops inside tf.tidy so no
 * intermediate survives. Cholesky solves, eigh and truncated SVD are CPU hand-offs to the @blastkit/core
 * reference. tfjs has one active engine per process: a backend refuses to run once another engine has been
 * made active.
 */
export class TfjsBackend implements Backend {
  readonly specificationVersion = BACKEND_SPECIFICATION_VERSION;
  readonly name = 'tfjs';
  private readonly live = new Set<TfjsTensor>();
  // Tail of the deferred computations (WebGPU hand-offs and what depends on them), in program order.
  private tail: Promise<void> | undefined;
  private closed = false;

  private constructor(
    /** The engine this backend runs on. */
    readonly engine: TfjsEngineName,
    /** One line on what runs, from the engine selection. */
    readonly engineDetail: string,
    private readonly syncHandoffs: boolean,
  ) {}

  describe(): BackendDescription {
    // tfjs-node-gpu says "on the CPU" when TensorFlow finds no GPU device (always, with TF 2.x ≥ 2.10 staged)
    const onGpu =
      this.engine === 'webgpu' || (this.engine === 'tfjs-node-gpu' && !/on the CPU/.test(this.engineDetail));
    return {
      name: 'tfjs',
      device: onGpu ? 'gpu' : 'cpu',
      engine: `${this.engine}: ${this.engineDetail}`,
      software: onGpu && isSoftwareAdapter(this.engineDetail),
    };
  }

  /** Selects the engine (see TfjsBackendOptions) and returns a backend on it. */
  static async create(options: TfjsBackendOptions = {}): Promise<TfjsBackend> {
    const preference = typeof options.engine === 'string' ? [options.engine] : options.engine;
    const engine = await selectTfjsEngine(preference ? [...preference] : undefined);
    // tfjs-backend-webgpu can only read back asynchronously in Node (its readSync needs OffscreenCanvas)
    const sync = engine.name !== 'webgpu' && !options.asyncHandoffs;
    return new TfjsBackend(engine.name, engine.detail, sync);
  }

  /** Handles alive on this backend (made and not yet disposed). */
  get liveTensors(): number {
    return this.live.size;
  }

  // ---- memory -------------------------------------------------------------------------------------

  upload(tensor: Tensor): BackendTensor {
    if (!(tensor instanceof Tensor)) {
      throw new InvalidArgumentError('tfjs backend: upload expects a host Tensor from @blastkit/core');
    }
    this.checkUsable('upload');
    const t = this.track(new TfjsTensor(tensor.shape, this));
    // a copy: tfjs' CPU engine keeps the array it is given, and the caller may reuse theirs
    t.value = tf.keep(tf.tensor(tensor.data.slice(), [...tensor.shape], 'float32'));
    return t;
  }

  async download(tensor: BackendTensor): Promise<Tensor> {
    const t = this.handle(tensor, 'download input', true);
    if (t.ready) await t.ready;
    if (t.error !== undefined) throw t.error;
    if (!t.value) throw new InvalidArgumentError('tfjs backend: download input was disposed');
    const values = (await t.value.data()) as Float32Array;
    // a copy: on the CPU engine data() is the tensor's own array
    return new Tensor(t.shape, Float32Array.from(values));
  }

  dispose(tensor: BackendTensor): void {
    if (!(tensor instanceof TfjsTensor) || tensor.owner !== this || tensor.disposed) return;
    tensor.disposed = true;
    this.live.delete(tensor);
    const free = () => {
      tensor.value?.dispose();
      tensor.value = undefined;
    };
    // with deferred work queued, free after it: an earlier deferred operation may still read this tensor
    if (this.tail) this.chain(free);
    else free();
  }

  reshape(tensor: BackendTensor, shape: readonly number[]): BackendTensor {
    return this.one(reshapeKernel, [tensor], { shape: [...shape] });
  }

  /** Waits for deferred work, then frees every tensor this backend still holds. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.tail) await this.tail;
    for (const t of [...this.live]) this.dispose(t);
    this.closed = true;
  }

  // ---- products -----------------------------------------------------------------------------------

  matmul(a: BackendTensor, b: BackendTensor, options: MatmulOptions = {}): BackendTensor {
    return this.one(k.matmul, [a, b], options);
  }
  linear(x: BackendTensor, weight: BackendTensor, bias?: BackendTensor): BackendTensor {
    return this.one(k.linear, bias ? [x, weight, bias] : [x, weight], undefined);
  }
  blastForward(
    x: BackendTensor,
    B: BackendTensor,
    C: BackendTensor,
    D: BackendTensor,
    options: BlastForwardOptions = {},
  ): BackendTensor {
    return this.one(k.blastForward, [x, B, C, D], options);
  }
  lowRankForward(x: BackendTensor, U: BackendTensor, V: BackendTensor): BackendTensor {
    return this.one(k.lowRankForward, [x, U, V], undefined);
  }
  monarchForward(x: BackendTensor, L: BackendTensor, R: BackendTensor): BackendTensor {
    return this.one(k.monarchForward, [x, L, R], undefined);
  }
  blockDiagonalForward(x: BackendTensor, blocks: BackendTensor): BackendTensor {
    return this.one(k.blockDiagonalForward, [x, blocks], undefined);
  }

  // ---- elementwise --------------------------------------------------------------------------------

  add(a: BackendTensor, b: BackendTensor): BackendTensor {
    return this.one(k.add, [a, b], undefined);
  }
  sub(a: BackendTensor, b: BackendTensor): BackendTensor {
    return this.one(k.sub, [a, b], undefined);
  }
  mul(a: BackendTensor, b: BackendTensor): BackendTensor {
    return this.one(k.mul, [a, b], undefined);
  }
  scale(a: BackendTensor, alpha: number, beta = 0): BackendTensor {
    return this.one(k.scale, [a], { alpha, beta });
  }
  unary(x: BackendTensor, op: UnaryOp): BackendTensor {
    return this.one(k.unary, [x], { op });
  }
  softmax(x: BackendTensor): BackendTensor {
    return this.one(k.softmax, [x], undefined);
  }
  rmsNorm(x: BackendTensor, weight: BackendTensor, eps: number): BackendTensor {
    return this.one(k.rmsNorm, [x, weight], { eps });
  }
  layerNorm(x: BackendTensor, weight: BackendTensor, bias: BackendTensor, eps: number): BackendTensor {
    return this.one(k.layerNorm, [x, weight, bias], { eps });
  }
  rope(x: BackendTensor, positions: Int32Array, options: RopeOptions): BackendTensor {
    // copies: a deferred run reads them later, after the caller may have reused the arrays
    const opts = { ...options, invFrequencies: options.invFrequencies?.slice() };
    return this.one(k.rope, [x], { positions: positions.slice(), options: opts });
  }
  embedding(table: BackendTensor, ids: Int32Array): BackendTensor {
    return this.one(k.embedding, [table], { ids: ids.slice() });
  }
  attention(q: BackendTensor, kk: BackendTensor, v: BackendTensor, options: AttentionOptions): BackendTensor {
    return this.one(k.attention, [q, kk, v], { ...options });
  }

  // ---- layout -------------------------------------------------------------------------------------

  transpose(x: BackendTensor, perm: readonly number[]): BackendTensor {
    return this.one(k.transpose, [x], { perm: [...perm] });
  }
  slice(x: BackendTensor, begin: readonly number[], size: readonly number[]): BackendTensor {
    return this.one(k.slice, [x], { begin: [...begin], size: [...size] });
  }
  concat(xs: readonly BackendTensor[], axis: number): BackendTensor {
    return this.one(k.concat, xs, { axis });
  }

  // ---- reductions ---------------------------------------------------------------------------------

  reduce(x: BackendTensor, op: ReduceOp, axis?: number): BackendTensor {
    return this.one(k.reduce, [x], { op, axis });
  }
  argmax(x: BackendTensor): BackendTensor {
    return this.one(k.argmax, [x], undefined);
  }

  // ---- factorization: CPU hand-offs ---------------------------------------------------------------

  choleskySolve(A: BackendTensor, B: BackendTensor): BackendTensor {
    return this.one(k.choleskySolve, [A, B], undefined);
  }
  eigh(A: BackendTensor): EighResult {
    const [values, vectors] = this.exec(k.eigh, [A], undefined);
    return { values, vectors };
  }
  truncatedSvd(A: BackendTensor, kk: number): SvdResult {
    const [U, S, V] = this.exec(k.truncatedSvd, [A], { k: kk });
    return { U, S, V };
  }

  // ---- machinery ----------------------------------------------------------------------------------

  private one<A>(kernel: TfjsKernel<A>, inputs: readonly BackendTensor[], attrs: A): TfjsTensor {
    return this.exec(kernel, inputs, attrs)[0];
  }

  /**
   * Checks the inputs, makes the output handles, and computes them now — or, when an input is still being
   * computed or the kernel is a hand-off that must read back asynchronously, at the end of the deferred
   * chain (program order is kept: everything queued earlier has run by then).
   */
  private exec<A>(kernel: TfjsKernel<A>, inputs: readonly BackendTensor[], attrs: A): TfjsTensor[] {
    this.checkUsable(kernel.name);
    const ins = inputs.map((h, i) => this.handle(h, `${kernel.name} input ${i}`));
    const shapes = kernel.shapes(
      ins.map((t) => t.shape),
      attrs,
    );
    const computed = ins.every((t) => t.value !== undefined);
    if (computed && (kernel.run || this.syncHandoffs)) {
      const values = kernel.run ? this.runNow(kernel, ins, attrs) : this.hostNow(kernel, ins, attrs);
      return values.map((v, i) => this.output(kernel, shapes[i], v));
    }
    const outs = shapes.map((s) => this.track(new TfjsTensor(s, this)));
    const ready = this.chain(async () => {
      try {
        for (const t of ins) if (t.error !== undefined) throw t.error;
        const values = kernel.run
          ? this.runNow(kernel, ins, attrs)
          : await this.hostLater(kernel, ins, attrs);
        values.forEach((v, i) => {
          this.expectShape(kernel, shapes[i], v);
          outs[i].value = v;
        });
      } catch (err) {
        for (const o of outs) o.error = err;
      }
    });
    for (const o of outs) o.ready = ready;
    return outs;
  }

  private runNow<A>(kernel: TfjsKernel<A>, ins: readonly TfjsTensor[], attrs: A): tf.Tensor[] {
    this.checkEngine(kernel.name);
    const inputs = ins.map((t) => t.value!);
    const outputs = tf.tidy(() => kernel.run!(inputs, attrs));
    return outputs.map((v) =>
      // an op may hand back its input (an identity); the output must be a tensor of its own
      tf.keep(inputs.includes(v) ? tf.clone(v) : v),
    );
  }

  private hostNow<A>(kernel: TfjsKernel<A>, ins: readonly TfjsTensor[], attrs: A): tf.Tensor[] {
    this.checkEngine(kernel.name);
    const host = ins.map((t) => new Tensor(t.shape, Float32Array.from(t.value!.dataSync() as Float32Array)));
    return this.uploadAll(kernel.host!(host, attrs));
  }

  private async hostLater<A>(
    kernel: TfjsKernel<A>,
    ins: readonly TfjsTensor[],
    attrs: A,
  ): Promise<tf.Tensor[]> {
    const host: Tensor[] = [];
    for (const t of ins)
      host.push(new Tensor(t.shape, Float32Array.from((await t.value!.data()) as Float32Array)));
    const results = kernel.host!(host, attrs);
    this.checkEngine(kernel.name);
    return this.uploadAll(results);
  }

  private uploadAll(results: Tensor[]): tf.Tensor[] {
    return results.map((r) => tf.keep(tf.tensor(r.data, [...r.shape], 'float32')));
  }

  private output<A>(kernel: TfjsKernel<A>, shape: readonly number[], value: tf.Tensor): TfjsTensor {
    this.expectShape(kernel, shape, value);
    const t = this.track(new TfjsTensor(shape, this));
    t.value = value;
    return t;
  }

  /** A kernel's tensor must have the shape its `shapes` promised (a bug in this package otherwise). */
  private expectShape<A>(kernel: TfjsKernel<A>, shape: readonly number[], value: tf.Tensor): void {
    if (value.shape.length !== shape.length || value.shape.some((d, i) => d !== shape[i])) {
      value.dispose();
      throw new Error(
        `tfjs backend: ${kernel.name} computed shape ${formatShape(value.shape)}, expected ${formatShape(shape)} (a bug in @blastkit/backend-tfjs)`,
      );
    }
  }

  private chain(fn: () => void | Promise<void>): Promise<void> {
    // a link never rejects (exec records failures on its outputs), so one failure cannot stall the links after it
    const link: Promise<void> = (this.tail ?? Promise.resolve())
      .then(fn)
      .catch(() => undefined)
      .finally(() => {
        if (this.tail === link) this.tail = undefined;
      });
    this.tail = link;
    return link;
  }

  private track(t: TfjsTensor): TfjsTensor {
    this.live.add(t);
    return t;
  }

  /** The handle behind a BackendTensor, or an error naming the input and what is wrong with it. */
  private handle(h: BackendTensor, what: string, allowPending = false): TfjsTensor {
    if (!(h instanceof TfjsTensor) || h.owner !== this) {
      throw new InvalidArgumentError(
        `tfjs backend: ${what} is not a tensor of this backend (a handle from another backend?)`,
      );
    }
    if (h.disposed) throw new InvalidArgumentError(`tfjs backend: ${what} was disposed`);
    // a failed deferred computation: its error is the one worth reporting
    if (h.error !== undefined && !allowPending) throw h.error;
    return h;
  }

  private checkUsable(op: string): void {
    if (this.closed) throw new InvalidArgumentError(`tfjs backend: ${op} after close()`);
    this.checkEngine(op);
  }

  private checkEngine(op: string): void {
    const active = tf.getBackend();
    if (active !== TFJS_BACKEND_NAME[this.engine]) {
      throw new InvalidArgumentError(
        `tfjs backend (${this.engine}): ${op}: TensorFlow.js now runs '${active}' (its engine is process-wide); select '${this.engine}' again with selectTfjsEngine(['${this.engine}'])`,
      );
    }
  }
}

/** The optional-backend entry point the CLI loads (`--backend tfjs`): a TfjsBackend on the best engine here. */
export function createBackend(options?: TfjsBackendOptions): Promise<TfjsBackend> {
  return TfjsBackend.create(options);
}
