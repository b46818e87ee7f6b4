import {
  type Backend,
  type BackendTensor,
  CpuBackend,
  type RopeOptions,
  type StructuredMatrix,
  Tensor,
} from '@blastkit/core';
import { appendKv, checkTokenIds, disposeKvCache, type KvCache, newKvCache } from '../decoder-lm.js';
import { applyLinear, disposeLinear, loadLinear, type UploadedLinear } from '../linear.js';
import { checkedReader, ModelFormatError, type TensorSource } from '../tensor-source.js';
import { type LlamaConfig, llamaLinearSuffixes, llamaWeightShapes } from './config.js';

export interface LlamaLoadOptions {
  backend?: Backend;
  /**
   * Structured matrices replacing linears, by module name (e.g. `model.layers.0.mlp.up_proj`): those weights
   * are not read from the source at all, and the layer runs through the structure's own forward.
   */
  replacements?: ReadonlyMap<string, StructuredMatrix>;
  /**
   * Output biases from compression (ROM's mean compensation), by module name: added to the layer's own bias
   * where the checkpoint has one (Qwen2's q/k/v), the layer's only bias elsewhere.
   */
  biases?: ReadonlyMap<string, Tensor>;
  /** Name of the weight file, for error messages. */
  file?: string;
}

interface LayerWeights {
  inputNorm: BackendTensor;
  postNorm: BackendTensor;
  /** By suffix (`self_attn.q_proj`, or Phi-3's fused `self_attn.qkv_proj`…), as llamaLinearSuffixes lists them. */
  linears: Record<string, UploadedLinear>;
}

export interface LlamaForwardOptions {
  /** Compute the head for the last position only (what generation needs). */
  lastOnly?: boolean;
  /**
   * Called with a copy of the input [T, in] of every decoder linear, by module name — how calibration
   * activations are collected. The observer owns the copy: download it, then dispose it.
   */
  observe?: (module: string, input: BackendTensor) => void;
}

/** Keys and values seen so far, per layer (the decoders' shared cache). */
export type LlamaKvCache = KvCache;

/**
 * A Llama decoder (Hugging Face LlamaForCausalLM semantics: RMSNorm, RoPE in `rotate_half` layout, grouped-query
 * attention, SwiGLU, tied or untied head) on any core Backend, with a KV cache. The same block runs the rest of
 * the family through LlamaConfig's options: Qwen2 (q/k/v biases), Mistral (sliding window), Phi-3 (fused
 * projections).
 */
export class LlamaModel {
  private constructor(
    readonly config: LlamaConfig,
    readonly backend: Backend,
    private readonly embed: BackendTensor,
    private readonly layers: LayerWeights[],
    private readonly finalNorm: BackendTensor,
    private readonly head: UploadedLinear,
    private readonly rope: RopeOptions,
  ) {}

  /** Loads every weight from `source`, checking names and shapes, one tensor at a time. */
  static async load(
    source: TensorSource,
    config: LlamaConfig,
    options: LlamaLoadOptions = {},
  ): Promise<LlamaModel> {
    const be = options.backend ?? new CpuBackend();
    const file = options.file ?? 'model';
    const replacements = options.replacements ?? new Map<string, StructuredMatrix>();
    const shapes = llamaWeightShapes(config);
    const read = checkedReader(source, shapes, file);
    const stored = new Set(source.names());
    // a compressed folder stores a replaced layer's own bias summed with its compression bias, as one (see
    // saveCompressedFolder): then the compression bias is the whole bias and the own one is not read
    const ownBias = (module: string) =>
      shapes.has(`${module}.bias`) &&
      !(replacements.has(module) && options.biases?.has(module) && !stored.has(`${module}.bias`));
    const linear = async (module: string): Promise<UploadedLinear> =>
      loadLinear(
        be,
        file,
        module,
        shapes.get(`${module}.weight`) as [number, number],
        replacements.get(module),
        () => read(`${module}.weight`),
        sumBiases(ownBias(module) ? await read(`${module}.bias`) : undefined, options.biases?.get(module)),
      );
    for (const name of [...replacements.keys(), ...(options.biases?.keys() ?? [])])
      if (!shapes.has(`${name}.weight`)) throw new ModelFormatError(file, `no linear '${name}' to replace`);

    const embedTensor = await read('model.embed_tokens.weight');
    const embed = be.upload(embedTensor);
    const layers: LayerWeights[] = [];
    for (let l = 0; l < config.numLayers; l++) {
      const p = `model.layers.${l}`;
      const linears: LayerWeights['linears'] = {};
      for (const suffix of llamaLinearSuffixes(config)) linears[suffix] = await linear(`${p}.${suffix}`);
      layers.push({
        inputNorm: be.upload(await read(`${p}.input_layernorm.weight`)),
        postNorm: be.upload(await read(`${p}.post_attention_layernorm.weight`)),
        linears,
      });
    }
    const finalNorm = be.upload(await read('model.norm.weight'));
    const head = config.tieWordEmbeddings
      ? {
          kind: 'dense' as const,
          shape: [config.vocabSize, config.hiddenSize] as const,
          tensors: { weight: embed },
          parameterCount: 0,
        }
      : await linear('lm_head');
    return new LlamaModel(config, be, embed, layers, finalNorm, head, ropeOptions(config));
  }

  newCache(): LlamaKvCache {
    return newKvCache();
  }

  /**
   * Runs `ids` (positions cache.length …) through the decoder, appending to the cache. Returns logits
   * [ids.length, vocab], or only the last position's [1, vocab] with `lastOnly` (what generation needs; it
   * skips the head for every other position).
   */
  forward(ids: Int32Array, cache: LlamaKvCache, options: LlamaForwardOptions = {}): BackendTensor {
    const be = this.backend;
    const c = this.config;
    const T = ids.length;
    checkTokenIds(ids, c.vocabSize);
    const start = cache.length;
    const positions = Int32Array.from({ length: T }, (_, i) => start + i);
    const temps: BackendTensor[] = [];
    const t = <H extends BackendTensor>(h: H): H => {
      temps.push(h);
      return h;
    };
    let x = be.embedding(this.embed, ids);
    for (let l = 0; l < this.layers.length; l++) {
      const layer = this.layers[l];
      const L = layer.linears;
      const lin = (input: BackendTensor, suffix: string) => {
        // the observer gets its own copy (it may read it back asynchronously after this pass frees `input`)
        if (options.observe) options.observe(`model.layers.${l}.${suffix}`, be.scale(input, 1));
        return applyLinear(be, input, L[suffix]);
      };
      const h = t(be.rmsNorm(x, layer.inputNorm, c.rmsNormEps));
      const q = c.numHeads * c.headDim;
      const kv = c.numKvHeads * c.headDim;
      let qh: BackendTensor;
      let kh: BackendTensor;
      let vh: BackendTensor;
      if (c.fusedProjections) {
        // Phi-3: one product for q, k and v, then its columns [q | k | v] (transformers slices them so)
        const qkv = t(lin(h, 'self_attn.qkv_proj'));
        qh = t(be.slice(qkv, [0, 0], [T, q]));
        kh = t(be.slice(qkv, [0, q], [T, kv]));
        vh = t(be.slice(qkv, [0, q + kv], [T, kv]));
      } else {
        qh = t(lin(h, 'self_attn.q_proj'));
        kh = t(lin(h, 'self_attn.k_proj'));
        vh = t(lin(h, 'self_attn.v_proj'));
      }
      const qr = t(be.rope(t(be.reshape(qh, [T, c.numHeads, c.headDim])), positions, this.rope));
      const k = t(be.rope(t(be.reshape(kh, [T, c.numKvHeads, c.headDim])), positions, this.rope));
      const v = t(be.reshape(vh, [T, c.numKvHeads, c.headDim]));
      const [K, V] = appendKv(be, cache, l, k, v);
      const window =
        c.slidingWindow !== undefined && (c.slidingLayers?.[l] ?? true) ? c.slidingWindow : undefined;
      const att = t(windowedAttention(be, qr, K, V, start, window));
      const o = t(lin(t(be.reshape(att, [T, q])), 'self_attn.o_proj'));
      const x1 = t(be.add(x, o));
      const h2 = t(be.rmsNorm(x1, layer.postNorm, c.rmsNormEps));
      let gateIn: BackendTensor;
      let up: BackendTensor;
      if (c.fusedProjections) {
        // Phi-3's gate_up_proj output is [gate | up] (transformers' chunk(2, dim=-1))
        const gateUp = t(lin(h2, 'mlp.gate_up_proj'));
        gateIn = t(be.slice(gateUp, [0, 0], [T, c.intermediateSize]));
        up = t(be.slice(gateUp, [0, c.intermediateSize], [T, c.intermediateSize]));
      } else {
        gateIn = t(lin(h2, 'mlp.gate_proj'));
        up = t(lin(h2, 'mlp.up_proj'));
      }
      const gate = t(be.unary(gateIn, 'silu'));
      const down = t(lin(t(be.mul(gate, up)), 'mlp.down_proj'));
      temps.push(x);
      x = be.add(x1, down);
      for (const tmp of temps.splice(0)) be.dispose(tmp);
    }
    cache.length += T;
    const last = options.lastOnly && T > 1 ? t(be.slice(x, [T - 1, 0], [1, c.hiddenSize])) : x;
    const normed = t(be.rmsNorm(last, this.finalNorm, c.rmsNormEps));
    const logits = applyLinear(be, normed, this.head);
    temps.push(x);
    for (const tmp of new Set(temps)) be.dispose(tmp);
    return logits;
  }

  /** [out, in] of a decoder linear, by module name. */
  linearShape(module: string): readonly [number, number] {
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(module);
    const w = m ? this.layers[Number(m[1])]?.linears[m[2]] : undefined;
    if (w === undefined) throw new RangeError(`no decoder linear '${module}'`);
    return w.shape;
  }

  /** Parameters of the decoder linears (dense or structured) — what compression changes. */
  linearParameterCount(): number {
    let n = 0;
    for (const layer of this.layers) for (const w of Object.values(layer.linears)) n += w.parameterCount;
    return n;
  }

  disposeCache(cache: LlamaKvCache): void {
    disposeKvCache(this.backend, cache);
  }

  /** Frees every weight on the backend. */
  dispose(): void {
    const be = this.backend;
    be.dispose(this.embed);
    for (const layer of this.layers) {
      be.dispose(layer.inputNorm);
      be.dispose(layer.postNorm);
      for (const w of Object.values(layer.linears)) disposeLinear(be, w);
    }
    be.dispose(this.finalNorm);
    if (!this.config.tieWordEmbeddings) disposeLinear(be, this.head);
  }
}

/**
 * Causal attention of queries q [T, H, D] at positions start … start + T − 1 over the keys K, V [start + T, Hkv, D],
 * each query seeing only the last `window` keys up to its own position when a window is given (transformers'
 * sliding window: keys j with p − W < j ≤ p). The backends' attention takes a causal bound but no lower one, so
 * queries the window does not yet bind (p < W) run in one call and each later query in a call of its own over
 * its W keys: one call per decode step, one per query past the window in a long prefill.
 */
export function windowedAttention(
  be: Backend,
  q: BackendTensor,
  K: BackendTensor,
  V: BackendTensor,
  start: number,
  window: number | undefined,
): BackendTensor {
  const [T, H, D] = q.shape;
  const [, Hkv] = K.shape;
  const free = window === undefined ? T : Math.max(0, Math.min(T, window - start));
  if (free === T) return be.attention(q, K, V, { causal: true, queryOffset: start });
  const parts: BackendTensor[] = [];
  const temps: BackendTensor[] = [];
  const w = window as number;
  if (free > 0) {
    const qFree = be.slice(q, [0, 0, 0], [free, H, D]);
    temps.push(qFree);
    parts.push(be.attention(qFree, K, V, { causal: true, queryOffset: start }));
  }
  for (let i = free; i < T; i++) {
    const p = start + i;
    const qi = be.slice(q, [i, 0, 0], [1, H, D]);
    const Ki = be.slice(K, [p - w + 1, 0, 0], [w, Hkv, D]);
    const Vi = be.slice(V, [p - w + 1, 0, 0], [w, Hkv, D]);
    temps.push(qi, Ki, Vi);
    parts.push(be.attention(qi, Ki, Vi, { causal: false }));
  }
  const out = parts.length === 1 ? parts[0] : be.concat(parts, 0);
  for (const h of temps) be.dispose(h);
  if (parts.length > 1) for (const h of parts) be.dispose(h);
  return out;
}

/** A checkpoint's own bias plus a compression bias (ROM's), either or both absent. */
function sumBiases(own: Tensor | undefined, extra: Tensor | undefined): Tensor | undefined {
  if (own === undefined || extra === undefined) return own ?? extra;
  if (extra.size !== own.size) return extra; // loadLinear names the bad shape
  const sum = new Float32Array(own.size);
  for (let i = 0; i < sum.length; i++) sum[i] = own.data[i] + extra.data[i];
  return new Tensor(own.shape, sum);
}

/** RoPE settings from the config, including Hugging Face's linear and llama3 scaling. */
export function ropeOptions(c: LlamaConfig): RopeOptions {
  const base: RopeOptions = { theta: c.ropeTheta, interleaved: false };
  const s = c.ropeScaling;
  if (s === undefined) return base;
  if (s.type === 'linear') return { ...base, positionScale: 1 / s.factor };
  // llama3: low frequencies scaled by 1/factor, high ones kept, a smooth blend between (transformers' rule)
  const half = c.headDim / 2;
  const inv = new Float32Array(half);
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let i = 0; i < half; i++) {
    const f = 1 / c.ropeTheta ** ((2 * i) / c.headDim);
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) inv[i] = f;
    else if (wavelen > lowWavelen) inv[i] = f / s.factor;
    else {
      const smooth =
        (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      inv[i] = (1 - smooth) * (f / s.factor) + smooth * f;
    }
  }
  return { ...base, invFrequencies: inv };
}
