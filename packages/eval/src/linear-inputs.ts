import { type Backend, type BackendTensor, InvalidArgumentError, Tensor } from '@blastkit/core';
import type { TensorSource } from '@blastkit/models';

/**
 * Collects the inputs each named dense linear receives during a model's forward passes, for adapters that
 * have no `observe` hook (the ViT and DiT adapters of @blastkit/models; the decoders have one, see
 * `collectLinearInputs`). It watches from outside the model: load the model from `recorder.source(source)` on
 * `recorder.backend`, run it, then read `inputs()`.
 *
 * How: the source wrapper remembers the array of each watched `<module>.weight` it hands out; the backend
 * wrapper maps the handle uploaded from that array to the module, and copies `x` whenever `linear(x, handle)`
 * runs. So a module is seen when the adapter runs its dense weight, as read, through `Backend.linear` — true of
 * every block linear of the ViT and DiT adapters. A module loaded as a structure, or whose weight the adapter
 * rewrites on load (GPT-2's Conv1D transpose), is never seen: `inputs()` then says which.
 */
export class LinearInputRecorder {
  /** The backend to load and run the model on: the wrapped one, with `upload` and `linear` watched. */
  readonly backend: Backend;
  private readonly modules: readonly string[];
  private readonly byWeight = new Map<string, string>();
  private readonly arrays = new WeakMap<object, string>();
  private readonly handles = new WeakMap<object, string>();
  private readonly rows = new Map<string, { width: number; parts: Float32Array[] }>();
  private pending: Promise<void>[] = [];
  private recording = true;

  constructor(backend: Backend, modules: readonly string[]) {
    if (modules.length === 0) throw new InvalidArgumentError('LinearInputRecorder: no modules to watch');
    this.modules = [...modules];
    for (const m of modules) this.byWeight.set(`${m}.weight`, m);
    const target = backend;
    this.backend = new Proxy(target, {
      get: (t, prop) => {
        if (prop === 'upload')
          return (tensor: Tensor): BackendTensor => {
            const h = t.upload(tensor);
            const module = this.arrays.get(tensor.data);
            if (module !== undefined) this.handles.set(h, module);
            return h;
          };
        if (prop === 'linear')
          return (x: BackendTensor, weight: BackendTensor, bias?: BackendTensor): BackendTensor => {
            const module = this.handles.get(weight);
            if (module !== undefined && this.recording) this.capture(module, x);
            return t.linear(x, weight, bias);
          };
        const v = Reflect.get(t, prop, t);
        // methods run on the real backend (class fields and private state live there)
        return typeof v === 'function' ? v.bind(t) : v;
      },
    });
  }

  /** `source`, with the watched modules' weights tagged as they are read. */
  source(source: TensorSource): TensorSource {
    return {
      names: () => source.names(),
      shapeOf: (name) => source.shapeOf(name),
      readTensor: async (name) => {
        const t = await source.readTensor(name);
        const module = this.byWeight.get(name);
        if (module !== undefined) this.arrays.set(t.data, module);
        return t;
      },
      close: () => source.close(),
    };
  }

  /** Stops (false) or resumes (true) collecting: e.g. to run warm-up passes that should not count. */
  setRecording(on: boolean): void {
    this.recording = on;
  }

  /** The rows collected so far, [rows, in] by module, in the order the modules were given. */
  async inputs(): Promise<Map<string, Tensor>> {
    await Promise.all(this.pending.splice(0));
    const missing = this.modules.filter((m) => !this.rows.has(m));
    if (missing.length > 0)
      throw new InvalidArgumentError(
        `no inputs reached ${missing.map((m) => `'${m}'`).join(', ')}: the model must be loaded from ` +
          'recorder.source(…) on recorder.backend, with these linears dense, and run at least once',
      );
    const out = new Map<string, Tensor>();
    for (const module of this.modules) {
      const { width, parts } = this.rows.get(module) as { width: number; parts: Float32Array[] };
      const total = parts.reduce((a, p) => a + p.length, 0);
      const data = new Float32Array(total);
      let offset = 0;
      for (const p of parts) {
        data.set(p, offset);
        offset += p.length;
      }
      out.set(module, new Tensor([total / width, width], data));
    }
    return out;
  }

  private capture(module: string, x: BackendTensor): void {
    const t = this.backend;
    // a copy: the model frees x with its temporaries, possibly before the download completes
    const copy = t.scale(x, 1);
    const width = x.shape[x.shape.length - 1];
    const entry = this.rows.get(module) ?? { width, parts: [] };
    this.rows.set(module, entry);
    // the slot is taken now, so rows keep the order of the calls whatever order the downloads finish in
    const slot = entry.parts.push(new Float32Array(0)) - 1;
    this.pending.push(
      t.download(copy).then((host) => {
        t.dispose(copy);
        entry.parts[slot] = host.data;
      }),
    );
  }
}
