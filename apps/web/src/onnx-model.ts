/**
 * An exported ONNX decoder (`blastkit export … --onnx`: transformers.js's decoder inputs and outputs, as
 * `OnnxCausalLm` in @blastkit/onnx runs it under Node) run by onnxruntime-web in the page: its WebGPU execution
 * provider when this browser has WebGPU, else its WASM (CPU) backend, with the reason shown.
 */
import type * as Ort from 'onnxruntime-web';
// The WASM binaries onnxruntime-web loads, served by this app from its own assets (never from a CDN): the
// default bundle's (JSEP: the WASM backend and the WebGPU EP, 29.5 MB) and the WASM-only bundle's (14.8 MB),
// which a page that will not use WebGPU loads instead.
import jsepWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url';
import plainWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import type { BackendPreference } from './backend-choice.js';

type OrtModule = typeof Ort;

/** The cache sizes of an exported decoder, from its config.json (Llama names, or GPT-2's). */
export interface OnnxDecoderShape {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  eosId: number | undefined;
}

/** Reads the decoder shape out of an exported folder's config.json, or says why it is not a decoder. */
export function onnxDecoderShape(config: Record<string, unknown>): OnnxDecoderShape {
  const n = (k: string) => config[k] as number | undefined;
  const heads = n('num_attention_heads') ?? n('n_head') ?? 0;
  const shape = {
    numLayers: n('num_hidden_layers') ?? n('n_layer') ?? 0,
    numKvHeads: n('num_key_value_heads') ?? heads,
    headDim: n('head_dim') ?? (n('hidden_size') ?? n('n_embd') ?? 0) / heads,
    vocabSize: n('vocab_size') ?? 0,
    maxPositionEmbeddings: n('max_position_embeddings') ?? n('n_positions') ?? 0,
  };
  for (const [key, value] of Object.entries(shape))
    if (!(Number.isInteger(value) && value > 0))
      throw new Error(`config.json: no decoder shape (${key} is ${value}; not an exported decoder?)`);
  const eos = config.eos_token_id;
  return { ...shape, eosId: typeof eos === 'number' ? eos : undefined };
}

const ortModules: { webgpu?: Promise<OrtModule>; wasm?: Promise<OrtModule> } = {};

/**
 * onnxruntime-web, imported on first use (a page that never opens an ONNX model never loads its WASM): the
 * bundle with the WebGPU EP, or the smaller WASM-only one.
 */
function loadOrt(kind: 'webgpu' | 'wasm'): Promise<OrtModule> {
  const configure = (ort: OrtModule, wasmUrl: string) => {
    ort.env.wasm.wasmPaths = { wasm: new URL(wasmUrl, document.baseURI).href };
    // threads need SharedArrayBuffer, which only a cross-origin-isolated page has
    ort.env.wasm.numThreads = globalThis.crossOriginIsolated
      ? Math.min(4, navigator.hardwareConcurrency || 1)
      : 1;
    ort.env.wasm.proxy = false;
    return ort;
  };
  if (kind === 'webgpu')
    ortModules.webgpu ??= import('onnxruntime-web').then((ort) => configure(ort, jsepWasmUrl));
  else ortModules.wasm ??= import('onnxruntime-web/wasm').then((ort) => configure(ort, plainWasmUrl));
  return ortModules[kind] as Promise<OrtModule>;
}

/** Why onnxruntime-web's WebGPU EP cannot run here, or undefined when an adapter answers. */
async function webGpuProblem(): Promise<string | undefined> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return 'this browser exposes no navigator.gpu';
  const adapter = await gpu.requestAdapter().catch(() => null);
  return adapter ? undefined : 'navigator.gpu gave no adapter';
}

/** A greedy decoder over an ONNX session, with the execution provider that answered. */
export class OnnxDecoder {
  private constructor(
    private readonly ort: OrtModule,
    private readonly session: Ort.InferenceSession,
    readonly shape: OnnxDecoderShape,
    /** 'webgpu' or 'wasm'. */
    readonly provider: 'webgpu' | 'wasm',
    /** e.g. 'onnxruntime-web 1.31.1 — wasm, 1 thread'. */
    readonly line: string,
    /** Set when WebGPU was wanted but the WASM backend answers instead. */
    readonly fallbackReason?: string,
  ) {}

  /**
   * Opens the model's bytes on WebGPU when `preference` allows and this browser has it, else on WASM;
   * 'webgpu' fails rather than falling back.
   */
  static async create(
    model: Uint8Array,
    shape: OnnxDecoderShape,
    preference: BackendPreference,
  ): Promise<OnnxDecoder> {
    const open = (ort: OrtModule, ep: 'webgpu' | 'wasm') =>
      ort.InferenceSession.create(model, { executionProviders: [ep], graphOptimizationLevel: 'all' });
    const version = (ort: OrtModule) => `onnxruntime-web ${ort.env.versions.web ?? ''}`.trim();
    let reason: string | undefined;
    let ort: OrtModule | undefined;
    if (preference !== 'cpu') {
      reason = await webGpuProblem();
      if (!reason) {
        ort = await loadOrt('webgpu');
        try {
          const session = await open(ort, 'webgpu');
          return new OnnxDecoder(
            ort,
            session,
            shape,
            'webgpu',
            `${version(ort)} — WebGPU execution provider`,
          );
        } catch (err) {
          reason = `onnxruntime-web's WebGPU EP did not start: ${(err as Error).message}`;
        }
      }
      if (preference === 'webgpu') throw new Error(reason);
    }
    // the bundle already loaded when its WebGPU EP failed (it has the WASM backend too), else the small one
    ort ??= await loadOrt('wasm');
    const session = await open(ort, 'wasm');
    const threads = ort.env.wasm.numThreads ?? 1;
    const isolation = globalThis.crossOriginIsolated ? '' : ': the page is not cross-origin isolated';
    return new OnnxDecoder(
      ort,
      session,
      shape,
      'wasm',
      `${version(ort)} — WASM${reason ? '' : ' (chosen)'}, ${threads} thread${threads === 1 ? '' : 's'}${isolation}`,
      reason,
    );
  }

  /** The feeds of an empty cache: [1, kv_heads, 0, head_dim] for every layer. */
  private emptyCache(): Record<string, Ort.Tensor> {
    const { numLayers, numKvHeads, headDim } = this.shape;
    const out: Record<string, Ort.Tensor> = {};
    for (let i = 0; i < numLayers; i++)
      for (const kind of ['key', 'value'])
        out[`past_key_values.${i}.${kind}`] = new this.ort.Tensor('float32', new Float32Array(0), [
          1,
          numKvHeads,
          0,
          headDim,
        ]);
    return out;
  }

  /**
   * Greedy continuation of `prompt` through the KV cache, as blastkit's `generate` at temperature 0: up to
   * `maxTokens` ids, stopping after the end-of-sequence id or at the context's end.
   */
  async generate(
    prompt: readonly number[],
    options: { maxTokens: number; signal?: AbortSignal; onToken?: (token: number) => void },
  ): Promise<number[]> {
    const T = this.ort.Tensor;
    let cache = this.emptyCache();
    let past = 0;
    let ids = [...prompt];
    const out: number[] = [];
    const limit = this.shape.maxPositionEmbeddings;
    while (out.length < options.maxTokens && past + ids.length <= limit) {
      if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
      const total = past + ids.length;
      const feeds: Record<string, Ort.Tensor> = {
        ...cache,
        input_ids: new T('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
        attention_mask: new T('int64', new BigInt64Array(total).fill(1n), [1, total]),
        position_ids: new T(
          'int64',
          BigInt64Array.from(ids, (_, i) => BigInt(past + i)),
          [1, ids.length],
        ),
      };
      const result = await this.session.run(feeds);
      for (const t of Object.values(cache)) t.dispose();
      cache = {};
      for (let i = 0; i < this.shape.numLayers; i++)
        for (const kind of ['key', 'value'])
          cache[`past_key_values.${i}.${kind}`] = result[`present.${i}.${kind}`];
      const logits = result.logits;
      const V = logits.dims[2];
      const data = (await logits.getData()) as Float32Array;
      logits.dispose();
      // the first index of the largest logit on ties, as blastkit's argmax
      const row = data.subarray(data.length - V);
      let next = 0;
      for (let v = 1; v < V; v++) if (row[v] > row[next]) next = v;
      out.push(next);
      options.onToken?.(next);
      if (next === this.shape.eosId) break;
      past = total;
      ids = [next];
    }
    for (const t of Object.values(cache)) t.dispose();
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
