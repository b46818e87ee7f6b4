import { DenseMatrix, InvalidArgumentError, type StructuredMatrix, Tensor } from '@blastkit/core';
import {
  LLAMA_LINEAR_SUFFIXES,
  type LlamaConfig,
  llamaWeightShapes,
  ModelFormatError,
  ropeOptions,
  type TensorSource,
} from '@blastkit/models';
import * as tf from '@tensorflow/tfjs-core';
import { structuredLinearFromMatrix, type TfStructuredLinear } from '../layers.js';
import { matMul } from '../ops.js';

/**
 * Keys and values of every layer so far, for batched decoding: per layer a list of chunks [B, Hkv, ≤32, d].
 * Appending a position copies only the last chunk, not the whole history (a plain concat per step moved
 * ~14 GB per 256-token batch of 32 sequences).
 */
export interface TfDecodeCache {
  length: number;
  keys: tf.Tensor[][];
  values: tf.Tensor[][];
}

const DECODE_CHUNK = 32;

/** One decoder layer's trainable pieces. */
interface TfLlamaLayer {
  inputNorm: tf.Variable;
  postNorm: tf.Variable;
  linears: Record<(typeof LLAMA_LINEAR_SUFFIXES)[number], TfStructuredLinear>;
}

export interface TfLlamaLoadOptions {
  /** Structured matrices replacing decoder linears, by module name (what `openCompressedFolder` returns). */
  replacements?: ReadonlyMap<string, StructuredMatrix>;
  /** Output biases of replaced modules (ROM's mean compensation). */
  biases?: ReadonlyMap<string, Tensor>;
  /** Whether norms and decoder linears are trainable (false for a teacher). Default true. */
  trainable?: boolean;
  /** Name of the weights, for error messages. */
  file?: string;
}

/**
 * A Llama decoder as tfjs ops, differentiable end to end, with the semantics of @blastkit/models' LlamaModel
 * (Hugging Face LlamaForCausalLM: RMSNorm, RoPE in rotate_half layout, grouped-query attention, SwiGLU).
 * Decoder linears are StructuredLinear layers (dense or structured), the norm gains are variables, and the
 * token embedding and head are frozen tensors — the BLAST paper's re-training setup. It runs whole sequences
 * (a batch of equal length, no KV cache): what training and teacher scoring need.
 */
export class TfLlama {
  private constructor(
    readonly config: LlamaConfig,
    /** [V, D], frozen. */
    private readonly embed: tf.Tensor2D,
    /** The head [V, D] (the embedding itself when tied), frozen. */
    private readonly head: tf.Tensor2D,
    /** The head as [D, V], transposed once, so logits are one plain GEMM. */
    private readonly headT: tf.Tensor2D,
    readonly layers: TfLlamaLayer[],
    readonly finalNorm: tf.Variable,
    private readonly invFrequencies: Float64Array,
    private readonly positionScale: number,
  ) {}

  /** Loads every weight of a Llama from `source` (names as in @blastkit/models), with structured replacements. */
  static async load(
    source: TensorSource,
    config: LlamaConfig,
    options: TfLlamaLoadOptions = {},
  ): Promise<TfLlama> {
    const file = options.file ?? 'model';
    const trainable = options.trainable ?? true;
    const replacements = options.replacements ?? new Map<string, StructuredMatrix>();
    const shapes = llamaWeightShapes(config);
    for (const name of replacements.keys())
      if (!shapes.has(`${name}.weight`)) throw new ModelFormatError(file, `no linear '${name}' to replace`);
    const read = async (name: string): Promise<Tensor> => {
      const want = shapes.get(name);
      const t = await source.readTensor(name);
      if (want && (t.shape.length !== want.length || want.some((d, i) => d !== t.shape[i])))
        throw new ModelFormatError(file, `tensor '${name}' has shape [${t.shape}], expected [${want}]`);
      return t;
    };
    const variable = (t: Tensor) => tf.variable(tf.tensor(t.data, [...t.shape]), trainable);
    const created: { dispose(): void }[] = [];
    try {
      const embedHost = await read('model.embed_tokens.weight');
      const embed = tf.tensor2d(embedHost.data, [config.vocabSize, config.hiddenSize]);
      created.push(embed);
      let head = embed;
      if (!config.tieWordEmbeddings) {
        head = tf.tensor2d((await read('lm_head.weight')).data, [config.vocabSize, config.hiddenSize]);
        created.push(head);
      }
      const headT = tf.transpose(head);
      created.push(headT);
      const layers: TfLlamaLayer[] = [];
      for (let l = 0; l < config.numLayers; l++) {
        const p = `model.layers.${l}`;
        const linears = {} as TfLlamaLayer['linears'];
        for (const suffix of LLAMA_LINEAR_SUFFIXES) {
          const module = `${p}.${suffix}`;
          const [m, n] = shapes.get(`${module}.weight`) as [number, number];
          const matrix = replacements.get(module) ?? new DenseMatrix(await read(`${module}.weight`));
          if (matrix.shape[0] !== m || matrix.shape[1] !== n)
            throw new ModelFormatError(
              file,
              `replacement for '${module}' has shape [${matrix.shape}], expected [${m},${n}]`,
            );
          const bias = options.biases?.get(module);
          const layer = structuredLinearFromMatrix(matrix, bias ? { bias: bias.data } : {});
          if (!trainable) for (const v of layer.variables) v.trainable = false;
          created.push(layer);
          linears[suffix] = layer;
        }
        const inputNorm = variable(await read(`${p}.input_layernorm.weight`));
        const postNorm = variable(await read(`${p}.post_attention_layernorm.weight`));
        created.push(inputNorm, postNorm);
        layers.push({ inputNorm, postNorm, linears });
      }
      const finalNorm = variable(await read('model.norm.weight'));
      const rope = ropeOptions(config);
      const half = config.headDim / 2;
      const inv = new Float64Array(half);
      for (let i = 0; i < half; i++)
        inv[i] = rope.invFrequencies ? rope.invFrequencies[i] : rope.theta ** (-(2 * i) / config.headDim);
      return new TfLlama(config, embed, head, headT, layers, finalNorm, inv, rope.positionScale ?? 1);
    } catch (err) {
      for (const c of created) c.dispose();
      throw err;
    }
  }

  /** Trainable variables: every decoder linear's factors (and bias), then the norm gains. */
  trainableVariables(): tf.Variable[] {
    const out: tf.Variable[] = [];
    for (const layer of this.layers)
      for (const s of LLAMA_LINEAR_SUFFIXES) out.push(...layer.linears[s].variables);
    for (const layer of this.layers) out.push(layer.inputNorm, layer.postNorm);
    out.push(this.finalNorm);
    return out.filter((v) => v.trainable);
  }

  /** Every variable under a stable name (module.factor, norm weights by their weight names): checkpoints. */
  namedVariables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    this.layers.forEach((layer, l) => {
      const p = `model.layers.${l}`;
      for (const s of LLAMA_LINEAR_SUFFIXES) {
        const lin = layer.linears[s];
        for (const [k, v] of Object.entries(lin.factors)) out.set(`${p}.${s}.${k}`, v);
        if (lin.bias) out.set(`${p}.${s}.bias`, lin.bias);
      }
      out.set(`${p}.input_layernorm.weight`, layer.inputNorm);
      out.set(`${p}.post_attention_layernorm.weight`, layer.postNorm);
    });
    out.set('model.norm.weight', this.finalNorm);
    return out;
  }

  /** The decoder linear of a module name. */
  linear(module: string): TfStructuredLinear {
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(module);
    const lin = m ? this.layers[Number(m[1])]?.linears[m[2] as keyof TfLlamaLayer['linears']] : undefined;
    if (!lin) throw new RangeError(`no decoder linear '${module}'`);
    return lin;
  }

  /** Parameters of the decoder linears (factors and biases). */
  linearParameterCount(): number {
    let n = 0;
    for (const layer of this.layers)
      for (const s of LLAMA_LINEAR_SUFFIXES) n += layer.linears[s].parameterCount();
    return n;
  }

  /** Multiply-adds ×2 per token of the decoder linears (the part compression changes). */
  linearFlopsPerToken(): number {
    let n = 0;
    for (const layer of this.layers)
      for (const s of LLAMA_LINEAR_SUFFIXES) n += layer.linears[s].flopsPerRow();
    return n;
  }

  private ropeTables(T: number): { cos: tf.Tensor; sin: tf.Tensor } {
    const d = this.config.headDim;
    const half = d / 2;
    const cos = new Float32Array(T * d);
    const sin = new Float32Array(T * d);
    for (let t = 0; t < T; t++) {
      const pos = t * this.positionScale;
      for (let i = 0; i < half; i++) {
        const a = pos * this.invFrequencies[i];
        cos[t * d + i] = cos[t * d + i + half] = Math.cos(a);
        sin[t * d + i] = sin[t * d + i + half] = Math.sin(a);
      }
    }
    // [T, 1, d]: broadcasts over heads of x [B, T, H, d]
    return { cos: tf.tensor3d(cos, [T, 1, d]), sin: tf.tensor3d(sin, [T, 1, d]) };
  }

  /**
   * The final-norm hidden states [B·T, D] of `batch` sequences of equal length (ids row-major [B, T]),
   * every position attending causally within its own sequence from position 0.
   */
  hidden(ids: Int32Array, batch: number): tf.Tensor2D {
    const c = this.config;
    if (!Number.isInteger(batch) || batch <= 0 || ids.length % batch !== 0)
      throw new InvalidArgumentError(`TfLlama: ${ids.length} ids do not split into ${batch} equal sequences`);
    const T = ids.length / batch;
    if (T > c.maxPositionEmbeddings)
      throw new InvalidArgumentError(
        `TfLlama: sequence length ${T} exceeds the context (${c.maxPositionEmbeddings})`,
      );
    for (let i = 0; i < ids.length; i++)
      if (!(ids[i] >= 0 && ids[i] < c.vocabSize))
        throw new InvalidArgumentError(
          `TfLlama: token id ${ids[i]} at ${i} is outside the vocabulary (${c.vocabSize})`,
        );
    const B = batch;
    const H = c.numHeads;
    const Hkv = c.numKvHeads;
    const d = c.headDim;
    const D = c.hiddenSize;
    return tf.tidy(() => {
      const { cos, sin } = this.ropeTables(T);
      const maskData = new Float32Array(T * T);
      for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) maskData[i * T + j] = -1e9;
      const mask = tf.tensor2d(maskData, [T, T]);
      const scale = 1 / Math.sqrt(d);
      const rope = (x: tf.Tensor, heads: number) => {
        const x4 = tf.reshape(x, [B, T, heads, d]);
        const x1 = tf.slice(x4, [0, 0, 0, 0], [B, T, heads, d / 2]);
        const x2 = tf.slice(x4, [0, 0, 0, d / 2], [B, T, heads, d / 2]);
        const rotated = tf.concat([tf.neg(x2), x1], 3);
        return tf.add(tf.mul(x4, cos), tf.mul(rotated, sin)); // [B, T, heads, d]
      };
      const heads = (x4: tf.Tensor, h: number) => tf.reshape(tf.transpose(x4, [0, 2, 1, 3]), [B * h, T, d]);
      const repeatKv = (x: tf.Tensor) => {
        if (Hkv === H) return x;
        const g = H / Hkv;
        // rank 3: tfjs has no tile gradient above rank 4. Query head h reads kv head ⌊h/g⌋.
        const x3 = tf.reshape(x, [B * Hkv, 1, T * d]);
        return tf.reshape(tf.tile(x3, [1, g, 1]), [B * H, T, d]);
      };
      let x: tf.Tensor2D = tf.gather(this.embed, tf.tensor1d(ids, 'int32'));
      for (const layer of this.layers) {
        const L = layer.linears;
        const h = this.rmsNorm(x, layer.inputNorm);
        const q = heads(rope(L['self_attn.q_proj'].apply(h), H), H);
        const k = repeatKv(heads(rope(L['self_attn.k_proj'].apply(h), Hkv), Hkv));
        const v = repeatKv(heads(tf.reshape(L['self_attn.v_proj'].apply(h), [B, T, Hkv, d]), Hkv));
        const scores = tf.add(tf.mul(matMul(q, k, false, true), scale), mask);
        const att = matMul(tf.softmax(scores), v); // [B·H, T, d]
        const merged = tf.reshape(tf.transpose(tf.reshape(att, [B, H, T, d]), [0, 2, 1, 3]), [B * T, H * d]);
        const x1 = tf.add(x, L['self_attn.o_proj'].apply(merged as tf.Tensor2D));
        const h2 = this.rmsNorm(x1, layer.postNorm);
        const gate = L['mlp.gate_proj'].apply(h2);
        const up = L['mlp.up_proj'].apply(h2);
        const act = tf.mul(tf.mul(gate, tf.sigmoid(gate)), up) as tf.Tensor2D;
        x = tf.add(x1, L['mlp.down_proj'].apply(act));
      }
      return tf.reshape(this.rmsNorm(x, this.finalNorm), [B * T, D]) as tf.Tensor2D;
    });
  }

  /** An empty KV cache for `decode`: per layer keys and values [B, Hkv, t, d]. */
  newDecodeCache(): TfDecodeCache {
    return { length: 0, keys: [], values: [] };
  }

  /**
   * One decoding step for a batch of sequences at the same position: `tokens` [B] at position
   * cache.length → logits [B, V]; appends to the cache (inference only: no gradient, no tape).
   */
  decode(tokens: Int32Array, cache: TfDecodeCache): tf.Tensor2D {
    const c = this.config;
    const B = tokens.length;
    const pos = cache.length;
    if (pos >= c.maxPositionEmbeddings)
      throw new InvalidArgumentError(
        `TfLlama.decode: position ${pos} is past the context (${c.maxPositionEmbeddings})`,
      );
    const H = c.numHeads;
    const Hkv = c.numKvHeads;
    const d = c.headDim;
    const g = H / Hkv;
    const half = d / 2;
    const cosData = new Float32Array(d);
    const sinData = new Float32Array(d);
    for (let i = 0; i < half; i++) {
      const a = pos * this.positionScale * this.invFrequencies[i];
      cosData[i] = cosData[i + half] = Math.cos(a);
      sinData[i] = sinData[i + half] = Math.sin(a);
    }
    const result = tf.tidy(() => {
      const cos = tf.tensor1d(cosData);
      const sin = tf.tensor1d(sinData);
      const rope = (x: tf.Tensor, heads: number) => {
        const x3 = tf.reshape(x, [B, heads, d]);
        const x1 = tf.slice(x3, [0, 0, 0], [B, heads, half]);
        const x2 = tf.slice(x3, [0, 0, half], [B, heads, half]);
        return tf.add(tf.mul(x3, cos), tf.mul(tf.concat([tf.neg(x2), x1], 2), sin));
      };
      let x: tf.Tensor2D = tf.gather(this.embed, tf.tensor1d(tokens, 'int32'));
      const kept: tf.Tensor[] = [];
      this.layers.forEach((layer, l) => {
        const L = layer.linears;
        const h = this.rmsNorm(x, layer.inputNorm);
        const q = tf.reshape(rope(L['self_attn.q_proj'].apply(h), H), [B, Hkv, g, d]);
        const k = tf.reshape(rope(L['self_attn.k_proj'].apply(h), Hkv), [B, Hkv, 1, d]);
        const v = tf.reshape(L['self_attn.v_proj'].apply(h), [B, Hkv, 1, d]);
        const append = (chunks: tf.Tensor[] | undefined, x: tf.Tensor): tf.Tensor[] => {
          if (!chunks || chunks.length === 0) return [x];
          const last = chunks[chunks.length - 1];
          if (last.shape[2] === DECODE_CHUNK) return [...chunks, x];
          return [...chunks.slice(0, -1), tf.concat([last, x], 2)];
        };
        const Ks = append(cache.keys[l], k); // chunks of [B, Hkv, t_c, d]
        const Vs = append(cache.values[l], v);
        kept.push(Ks[Ks.length - 1], Vs[Vs.length - 1]);
        // One query row per head: broadcast products and sums ([B·Hkv, g, t, d]) instead of B·Hkv tiny
        // GEMMs, which cost more in per-call overhead than in arithmetic.
        const q4 = tf.reshape(q, [B * Hkv, g, 1, d]);
        const scores = tf.mul(
          tf.concat(
            Ks.map((K) => tf.sum(tf.mul(q4, tf.reshape(K, [B * Hkv, 1, K.shape[2] as number, d])), 3)),
            2,
          ),
          1 / Math.sqrt(d),
        ); // [B·Hkv, g, t]
        const p = tf.softmax(scores);
        let offset = 0;
        let att: tf.Tensor | null = null;
        for (const V of Vs) {
          const tc = V.shape[2] as number;
          const pc = tf.reshape(tf.slice(p, [0, 0, offset], [B * Hkv, g, tc]), [B * Hkv, g, tc, 1]);
          const part = tf.sum(tf.mul(pc, tf.reshape(V, [B * Hkv, 1, tc, d])), 2); // [B·Hkv, g, d]
          att = att ? tf.add(att, part) : part;
          offset += tc;
        }
        const x1 = tf.add(
          x,
          L['self_attn.o_proj'].apply(tf.reshape(att as tf.Tensor, [B, H * d]) as tf.Tensor2D),
        );
        const h2 = this.rmsNorm(x1, layer.postNorm);
        const gate = L['mlp.gate_proj'].apply(h2);
        const act = tf.mul(tf.mul(gate, tf.sigmoid(gate)), L['mlp.up_proj'].apply(h2)) as tf.Tensor2D;
        x = tf.add(x1, L['mlp.down_proj'].apply(act));
      });
      return { logits: this.logitsOf(this.rmsNorm(x, this.finalNorm)), kept };
    });
    // the last chunk of each layer was replaced (grown) or a new one started
    const grown = pos % DECODE_CHUNK !== 0;
    for (let l = 0; l < this.layers.length; l++) {
      for (const [list, fresh] of [
        [cache.keys, result.kept[2 * l]],
        [cache.values, result.kept[2 * l + 1]],
      ] as const) {
        const chunks = list[l] ?? [];
        if (grown) chunks.pop()?.dispose();
        chunks.push(fresh);
        list[l] = chunks;
      }
    }
    cache.length = pos + 1;
    return result.logits;
  }

  /** Frees a decode cache's tensors. */
  disposeDecodeCache(cache: TfDecodeCache): void {
    for (const t of [...cache.keys.flat(), ...cache.values.flat()]) t.dispose();
    cache.keys = [];
    cache.values = [];
  }

  /** Logits [N, V] of hidden states [N, D] (the frozen head, one plain GEMM). */
  logitsOf(hidden: tf.Tensor2D): tf.Tensor2D {
    return matMul(hidden, this.headT);
  }

  /** Logits [B·T, V] of `batch` equal-length sequences. */
  logits(ids: Int32Array, batch: number): tf.Tensor2D {
    return tf.tidy(() => this.logitsOf(this.hidden(ids, batch)));
  }

  /** The head as [D, V] (frozen): for losses that fuse the head with their own gradient. */
  get headTransposed(): tf.Tensor2D {
    return this.headT;
  }

  /** The head as [V, D] (frozen), for the gradient of fused head losses. */
  get headWeight(): tf.Tensor2D {
    return this.head;
  }

  private rmsNorm(x: tf.Tensor, w: tf.Tensor): tf.Tensor2D {
    const ms = tf.mean(tf.square(x), -1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, this.config.rmsNormEps))), w) as tf.Tensor2D;
  }

  /** The current decoder linears as structured matrices (host copies), by module name. */
  replacements(): Map<string, StructuredMatrix> {
    const out = new Map<string, StructuredMatrix>();
    this.layers.forEach((layer, l) => {
      for (const s of LLAMA_LINEAR_SUFFIXES)
        out.set(`model.layers.${l}.${s}`, layer.linears[s].toStructuredMatrix());
    });
    return out;
  }

  /** Host copies of the current norm gains, under their weight names. */
  normWeights(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    const host = (v: tf.Variable) => new Tensor(v.shape, Float32Array.from(v.dataSync() as Float32Array));
    this.layers.forEach((layer, l) => {
      out.set(`model.layers.${l}.input_layernorm.weight`, host(layer.inputNorm));
      out.set(`model.layers.${l}.post_attention_layernorm.weight`, host(layer.postNorm));
    });
    out.set('model.norm.weight', host(this.finalNorm));
    return out;
  }

  dispose(): void {
    this.embed.dispose();
    if (this.head !== this.embed) this.head.dispose();
    this.headT.dispose();
    for (const layer of this.layers) {
      for (const s of LLAMA_LINEAR_SUFFIXES) layer.linears[s].dispose();
      layer.inputNorm.dispose();
      layer.postNorm.dispose();
    }
    this.finalNorm.dispose();
  }
}
