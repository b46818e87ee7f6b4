import type { BackendTensor } from '@blastkit/core';
import { type CpuHandoffAttrs, cpuHandoff, formatShape, InvalidArgumentError, Tensor } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { TFJS_BACKEND_NAME, type TfjsEngineName } from './engine/engine-names.js';
import type { TfjsKernel } from './kernels/kernel.js';
import { TfjsTensor } from './tfjs-tensor.js';

/** A hand-off kernel's attributes as core's cpuHandoff takes them (truncatedSvd's k; none for the others). */
const handoffAttrs = (attrs: unknown): CpuHandoffAttrs => (attrs ?? {}) as CpuHandoffAttrs;

/**
 * The state of one TfjsBackend and the machinery its kernels run through: the live handles, the chain of
 * deferred computations, the engine checks. Every operation checks its inputs, then runs its tfjs ops inside
 * tf.tidy so no intermediate survives; CPU hand-offs go through core's cpuHandoff.
 */
export class TfjsRuntime {
  readonly live = new Set<TfjsTensor>();
  // Tail of the deferred computations (WebGPU hand-offs and what depends on them), in program order.
  tail: Promise<void> | undefined;
  closed = false;

  constructor(
    /** The engine this backend runs on. */
    readonly engine: TfjsEngineName,
    /** One line on what runs, from the engine selection. */
    readonly detail: string,
    private readonly syncHandoffs: boolean,
  ) {}

  /** Runs a kernel with one output. */
  one<A>(kernel: TfjsKernel<A>, inputs: readonly BackendTensor[], attrs: A): TfjsTensor {
    return this.exec(kernel, inputs, attrs)[0];
  }

  /**
   * Checks the inputs, makes the output handles, and computes them now — or, when an input is still being
   * computed or the kernel is a hand-off that must read back asynchronously, at the end of the deferred
   * chain (program order is kept: everything queued earlier has run by then).
   */
  exec<A>(kernel: TfjsKernel<A>, inputs: readonly BackendTensor[], attrs: A): TfjsTensor[] {
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
    return cpuHandoff(
      kernel.handoff!,
      ins,
      handoffAttrs(attrs),
      (t) => new Tensor(t.shape, Float32Array.from(t.value!.dataSync() as Float32Array)),
      (results) => this.uploadAll(results),
    );
  }

  private hostLater<A>(kernel: TfjsKernel<A>, ins: readonly TfjsTensor[], attrs: A): Promise<tf.Tensor[]> {
    return cpuHandoff(
      kernel.handoff!,
      ins,
      handoffAttrs(attrs),
      async (t) => new Tensor(t.shape, Float32Array.from((await t.value!.data()) as Float32Array)),
      (results) => {
        this.checkEngine(kernel.name);
        return this.uploadAll(results);
      },
    );
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

  chain(fn: () => void | Promise<void>): Promise<void> {
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

  track(t: TfjsTensor): TfjsTensor {
    this.live.add(t);
    return t;
  }

  /** The handle behind a BackendTensor, or an error naming the input and what is wrong with it. */
  handle(h: BackendTensor, what: string, allowPending = false): TfjsTensor {
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

  checkUsable(op: string): void {
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
