import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ONNX_FILE_NAMES } from '../export/onnx-folder.js';
import { fromFloat16 } from '../graph/float16.js';
import type { WeightDtype } from '../layers/quantize.js';

type Ort = typeof import('onnxruntime-node');
type Session = import('onnxruntime-node').InferenceSession;
type OrtTensor = import('onnxruntime-node').Tensor;

let ort: Promise<Ort> | undefined;

/** onnxruntime-node, an optional peer dependency: loaded on first use, with an error saying what to install. */
export function loadOnnxRuntime(): Promise<Ort> {
  ort ??= import('onnxruntime-node').catch((err: Error) => {
    ort = undefined;
    throw new Error(
      `onnxruntime-node is needed to run ONNX models here (npm install onnxruntime-node): ${err.message}`,
    );
  });
  return ort;
}

/** Session options of {@link OnnxCausalLm.load}. */
export interface OnnxSessionOptions {
  /** Intra-op threads (default: onnxruntime's choice, all cores). */
  threads?: number;
  /**
   * onnxruntime's profiler on: every run's kernel times go to `<profilePrefix>_<date>.json` (a path prefix),
   * written by {@link OnnxCausalLm.endProfiling}, which returns them summed.
   */
  profilePrefix?: string;
}

/** One kernel of a profiled run, as {@link OnnxCausalLm.endProfiling} reads the profiler's file. */
export interface OnnxKernelTime {
  /** Which run of the session (0 = the first) the kernel ran in. */
  run: number;
  op: string;
  /** Microseconds. */
  us: number;
  /** The shapes of the inputs the profiler lists (initializers it does not) and of the outputs. */
  inputs: number[][];
  outputs: number[][];
}

/** The cache sizes a decoder graph's `past_key_values` inputs need. */
export interface OnnxDecoderShape {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
}

/**
 * A decoder exported by this package (or any graph with transformers.js's decoder inputs and outputs), run by
 * onnxruntime-node on the CPU with its KV cache: for checks against blastkit's own backends and benchmarks.
 */
export class OnnxCausalLm {
  private constructor(
    private readonly ort: Ort,
    readonly session: Session,
    readonly shape: OnnxDecoderShape,
    private readonly profilePrefix?: string,
  ) {}

  /** Opens `model` (a path or the bytes of an .onnx file). */
  static async load(
    model: string | Uint8Array,
    shape: OnnxDecoderShape,
    options: OnnxSessionOptions = {},
  ): Promise<OnnxCausalLm> {
    const o = await loadOnnxRuntime();
    const sessionOptions = {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all' as const,
      ...(options.threads ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
      ...(options.profilePrefix ? { enableProfiling: true, profileFilePrefix: options.profilePrefix } : {}),
    };
    const session =
      typeof model === 'string'
        ? await o.InferenceSession.create(model, sessionOptions)
        : await o.InferenceSession.create(model, sessionOptions);
    return new OnnxCausalLm(o, session, shape, options.profilePrefix);
  }

  /**
   * Opens an exported folder: `onnx/<file>` (default: the graph of the dtype its config.json declares) with the
   * cache sizes from its config.json.
   */
  static async fromFolder(
    dir: string,
    options: OnnxSessionOptions & { file?: string } = {},
  ): Promise<OnnxCausalLm> {
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    // Llama's names, or GPT-2's (n_head, n_layer, n_embd), as transformers.js normalizes them
    const heads = config.num_attention_heads ?? config.n_head;
    const shape = {
      numLayers: config.num_hidden_layers ?? config.n_layer,
      numKvHeads: config.num_key_value_heads ?? heads,
      headDim: config.head_dim ?? (config.hidden_size ?? config.n_embd) / heads,
    };
    for (const [key, value] of Object.entries(shape))
      if (!(Number.isInteger(value) && value > 0))
        throw new Error(`${join(dir, 'config.json')}: no decoder shape (${key} is ${value}; not a decoder?)`);
    // the graph of the dtype the folder declares, as transformers.js picks it (fp32's model.onnx when none)
    const dtype = config['transformers.js_config']?.dtype as WeightDtype | undefined;
    const file = options.file ?? ONNX_FILE_NAMES[dtype ?? 'fp32'] ?? 'model.onnx';
    return OnnxCausalLm.load(join(dir, 'onnx', file), shape, options);
  }

  /** The element type the graph declares for its cache (float16 in an fp16 export, else float32). */
  get cacheType(): 'float32' | 'float16' {
    const meta = this.session.inputMetadata.find((m) => m.name === 'past_key_values.0.key');
    return meta?.isTensor && meta.type === 'float16' ? 'float16' : 'float32';
  }

  /** An empty cache (past length 0), of the type the graph's cache inputs declare. */
  emptyCache(): OnnxKvCache {
    const { numLayers, numKvHeads, headDim } = this.shape;
    const type = this.cacheType;
    const tensors: Record<string, OrtTensor> = {};
    for (let i = 0; i < numLayers; i++)
      for (const kind of ['key', 'value'])
        tensors[`past_key_values.${i}.${kind}`] =
          type === 'float16'
            ? new this.ort.Tensor('float16', new Uint16Array(0), [1, numKvHeads, 0, headDim])
            : new this.ort.Tensor('float32', new Float32Array(0), [1, numKvHeads, 0, headDim]);
    return { length: 0, tensors };
  }

  /**
   * Runs `ids` after what `cache` holds; returns the logits [ids.length, vocab] (row-major; float16 logits
   * widened to float32) and the grown cache (the old one is left as it was).
   */
  async forward(
    ids: readonly number[],
    cache: OnnxKvCache,
  ): Promise<{ logits: Float32Array; vocab: number; cache: OnnxKvCache }> {
    const T = this.ort.Tensor;
    const total = cache.length + ids.length;
    const feeds: Record<string, OrtTensor> = {
      ...cache.tensors,
      input_ids: new T('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
      attention_mask: new T('int64', new BigInt64Array(total).fill(1n), [1, total]),
      position_ids: new T('int64', BigInt64Array.from(ids.map((_, i) => BigInt(cache.length + i))), [
        1,
        ids.length,
      ]),
    };
    const out = await this.session.run(feeds);
    const next: Record<string, OrtTensor> = {};
    for (let i = 0; i < this.shape.numLayers; i++)
      for (const kind of ['key', 'value']) next[`past_key_values.${i}.${kind}`] = out[`present.${i}.${kind}`];
    const logits = out.logits;
    return {
      logits:
        logits.type === 'float16' ? fromFloat16(logits.data as Uint16Array) : (logits.data as Float32Array),
      vocab: logits.dims[2],
      cache: { length: total, tensors: next },
    };
  }

  /** Greedy continuation of `prompt`: up to `maxTokens` new ids, stopping after `eosId` if given. */
  async generate(prompt: readonly number[], maxTokens: number, eosId?: number): Promise<number[]> {
    let cache = this.emptyCache();
    let ids = [...prompt];
    const out: number[] = [];
    while (out.length < maxTokens) {
      const r = await this.forward(ids, cache);
      cache = r.cache;
      const next = argmax(r.logits.subarray(r.logits.length - r.vocab));
      out.push(next);
      if (next === eosId) break;
      ids = [next];
    }
    return out;
  }

  /**
   * One window of a perplexity: `ids` run from an empty cache, and −log p(ids[t+1]) summed over t in
   * [scoredFrom, ids.length − 1) (log-softmax in float64), with how many were summed. The windows are
   * @blastkit/eval's `slidingWindows`, so the figure is the one its `perplexity` gives on a blastkit backend.
   */
  async windowNll(ids: ArrayLike<number>, scoredFrom = 0): Promise<{ nll: number; count: number }> {
    const { logits, vocab } = await this.forward(Array.from(ids), this.emptyCache());
    let nll = 0;
    let count = 0;
    for (let t = Math.max(0, scoredFrom); t < ids.length - 1; t++) {
      const row = logits.subarray(t * vocab, (t + 1) * vocab);
      let max = Number.NEGATIVE_INFINITY;
      for (let v = 0; v < vocab; v++) max = Math.max(max, row[v]);
      let sum = 0;
      for (let v = 0; v < vocab; v++) sum += Math.exp(row[v] - max);
      nll += max + Math.log(sum) - row[ids[t + 1]];
      count++;
    }
    return { nll, count };
  }

  /**
   * Stops the profiler (a session opened with `profilePrefix`) and returns every kernel it timed, by run. The
   * profiler's own cost falls mostly on the many small kernels: their times are upper bounds.
   */
  async endProfiling(): Promise<OnnxKernelTime[]> {
    if (!this.profilePrefix) throw new Error('endProfiling: the session was not opened with profilePrefix');
    this.session.endProfiling();
    const dir = dirname(this.profilePrefix);
    const stem = basename(this.profilePrefix);
    const file = (await readdir(dir)).filter((f) => f.startsWith(`${stem}_`) && f.endsWith('.json')).sort();
    if (file.length === 0) throw new Error(`endProfiling: no ${this.profilePrefix}_*.json written`);
    type Event = {
      cat: string;
      name: string;
      ts: number;
      dur: number;
      args?: { op_name?: string; input_type_shape?: object[]; output_type_shape?: object[] };
    };
    const events = JSON.parse(await readFile(join(dir, file[file.length - 1]), 'utf8')) as Event[];
    const runs = events
      .filter((e) => e.cat === 'Session' && e.name === 'model_run')
      .sort((a, b) => a.ts - b.ts);
    const shapes = (list: object[] = []) => list.map((x) => Object.values(x)[0] as number[]);
    return events
      .filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'))
      .map((e) => ({
        run: runs.findIndex((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur),
        op: e.args?.op_name ?? '',
        us: e.dur,
        inputs: shapes(e.args?.input_type_shape),
        outputs: shapes(e.args?.output_type_shape),
      }));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** The cache of an {@link OnnxCausalLm}: the present tensors of the last run, fed back as the past. */
export interface OnnxKvCache {
  length: number;
  tensors: Record<string, OrtTensor>;
}

/** Index of the largest entry (the first, on ties). */
export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}
