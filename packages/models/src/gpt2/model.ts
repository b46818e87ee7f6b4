import { join } from 'node:path';
import { type Backend, type BackendTensor, CpuBackend, type StructuredMatrix, Tensor } from '@blastkit/core';
import { appendKv, checkTokenIds, disposeKvCache, type KvCache, newKvCache } from '../decoder-lm.js';
import { readHfConfig, SafetensorsSource } from '../hf/safetensors-source.js';
import { applyLinear, disposeLinear, loadLinear, type UploadedLinear } from '../linear.js';
import { checkedReader, ModelFormatError, type TensorSource } from '../tensor-source.js';
import {
  GPT2_LINEAR_MODULES,
  type Gpt2Config,
  gpt2ConfigFromHf,
  gpt2LinearDims,
  gpt2WeightShapes,
} from './config.js';

export { GPT2_LINEAR_MODULES } from './config.js';

type Gpt2LinearModule = (typeof GPT2_LINEAR_MODULES)[number];

export interface Gpt2LoadOptions {
  backend?: Backend;
  /**
   * Structured matrices replacing linears, by module name (`transformer.h.{i}.attn.c_attn`, `.attn.c_proj`,
   * `.mlp.c_fc`, `.mlp.c_proj`; `lm_head` when the head is untied), shaped [out, in] as torch.nn.Linear —
   * the transpose of the Conv1D weight in the file. Those weights are not read; biases stay dense.
   */
  replacements?: ReadonlyMap<string, StructuredMatrix>;
  /** Name of the weight file, for error messages. */
  file?: string;
}

export interface Gpt2ForwardOptions {
  /** Compute the head for the last position only (what generation needs). */
  lastOnly?: boolean;
  /**
   * Called with a copy of the input [T, in] of every block linear, by module name — how calibration
   * activations are collected. The observer owns the copy: download it, then dispose it.
   */
  observe?: (module: string, input: BackendTensor) => void;
}

/** Keys and values seen so far, per layer (the decoders' shared cache). */
export type Gpt2KvCache = KvCache;

/** The model's config: GPT-2's own fields, plus the names `generate` reads (as LlamaConfig has them). */
export interface Gpt2ModelConfig extends Gpt2Config {
  /** = nPositions: the longest sequence the position table covers. */
  readonly maxPositionEmbeddings: number;
}

/** A Conv1D (y = x·W + b, W [in, out]) as the linear it is: W stored [out, in] and its bias. */
interface BiasedLinear {
  weight: UploadedLinear;
  bias: BackendTensor;
}

interface BlockWeights {
  ln1: { weight: BackendTensor; bias: BackendTensor };
  ln2: { weight: BackendTensor; bias: BackendTensor };
  linears: Record<Gpt2LinearModule, BiasedLinear>;
}

/**
 * A GPT-2 decoder (Hugging Face GPT2LMHeadModel semantics: learned positions, pre-LayerNorm blocks, fused
 * q/k/v projection, tanh-GELU MLP, final LayerNorm, head tied to the token embedding) on any core Backend,
 * with a KV cache. Every Conv1D runs as a linear [out, in], so structured matrices replace it like any other.
 */
export class Gpt2Model {
  private constructor(
    readonly config: Gpt2ModelConfig,
    readonly backend: Backend,
    private readonly wte: BackendTensor,
    private readonly wpe: BackendTensor,
    private readonly blocks: BlockWeights[],
    private readonly lnF: { weight: BackendTensor; bias: BackendTensor },
    private readonly head: UploadedLinear,
  ) {}

  /**
   * Loads every weight from `source` (GPT2LMHeadModel names, or GPT2Model's without `transformer.`), checking
   * names and shapes, one tensor at a time; Conv1D weights are transposed to [out, in].
   */
  static async load(
    source: TensorSource,
    config: Gpt2Config,
    options: Gpt2LoadOptions = {},
  ): Promise<Gpt2Model> {
    const be = options.backend ?? new CpuBackend();
    const file = options.file ?? 'model';
    const replacements = options.replacements ?? new Map<string, StructuredMatrix>();
    const shapes = gpt2WeightShapes(config);
    const available = new Set(source.names());
    // GPT2LMHeadModel nests the decoder under `transformer.`; a GPT2Model checkpoint (the hub's `gpt2`) does not
    const prefix =
      !available.has('transformer.wte.weight') && available.has('wte.weight') ? '' : 'transformer.';
    const fileName = (name: string) =>
      name.startsWith('transformer.') ? prefix + name.slice('transformer.'.length) : name;
    const read = checkedReader(source, shapes, file, fileName);
    const dims = gpt2LinearDims(config);
    const linearShapes = new Map<string, readonly [number, number]>();
    for (let l = 0; l < config.nLayer; l++)
      for (const m of GPT2_LINEAR_MODULES)
        linearShapes.set(`transformer.h.${l}.${m}`, [dims[m][1], dims[m][0]]);
    if (!config.tieWordEmbeddings) linearShapes.set('lm_head', [config.vocabSize, config.nEmbd]);
    for (const name of replacements.keys())
      if (!linearShapes.has(name))
        throw new ModelFormatError(
          file,
          `no linear '${name}' to replace (expected 'transformer.h.{0…${config.nLayer - 1}}.{${GPT2_LINEAR_MODULES.join(',')}}'${config.tieWordEmbeddings ? '' : " or 'lm_head'"})`,
        );
    const linear = async (module: string, conv1d: boolean): Promise<UploadedLinear> => {
      const expected = linearShapes.get(module) as readonly [number, number];
      // Conv1D stores [in, out]: transposed here so every linear is [out, in]
      return loadLinear(be, file, module, expected, replacements.get(module), async () => {
        const w = await read(`${module}.weight`);
        return conv1d ? transpose2d(w) : w;
      });
    };

    const wte = be.upload(await read('transformer.wte.weight'));
    const wpe = be.upload(await read('transformer.wpe.weight'));
    const norm = async (name: string) => ({
      weight: be.upload(await read(`${name}.weight`)),
      bias: be.upload(await read(`${name}.bias`)),
    });
    const blocks: BlockWeights[] = [];
    for (let l = 0; l < config.nLayer; l++) {
      const p = `transformer.h.${l}`;
      const linears = {} as BlockWeights['linears'];
      for (const m of GPT2_LINEAR_MODULES)
        linears[m] = {
          weight: await linear(`${p}.${m}`, true),
          bias: be.upload(await read(`${p}.${m}.bias`)),
        };
      blocks.push({ ln1: await norm(`${p}.ln_1`), ln2: await norm(`${p}.ln_2`), linears });
    }
    const lnF = await norm('transformer.ln_f');
    const head = config.tieWordEmbeddings
      ? {
          kind: 'dense' as const,
          shape: [config.vocabSize, config.nEmbd] as const,
          tensors: { weight: wte },
          parameterCount: 0,
        }
      : await linear('lm_head', false);
    const modelConfig: Gpt2ModelConfig = Object.freeze({
      ...config,
      maxPositionEmbeddings: config.nPositions,
    });
    return new Gpt2Model(modelConfig, be, wte, wpe, blocks, lnF, head);
  }

  newCache(): Gpt2KvCache {
    return newKvCache();
  }

  /**
   * Runs `ids` (positions cache.length …) through the decoder, appending to the cache. Returns logits
   * [ids.length, vocab], or only the last position's [1, vocab] with `lastOnly`.
   */
  forward(ids: Int32Array, cache: Gpt2KvCache, options: Gpt2ForwardOptions = {}): BackendTensor {
    const be = this.backend;
    const c = this.config;
    const T = ids.length;
    const E = c.nEmbd;
    checkTokenIds(ids, c.vocabSize);
    const start = cache.length;
    // positions are a learned table: there is no row past n_positions to extrapolate to
    if (start + T > c.nPositions)
      throw new RangeError(`positions ${start}…${start + T - 1} run past n_positions ${c.nPositions}`);
    const positions = Int32Array.from({ length: T }, (_, i) => start + i);
    const temps: BackendTensor[] = [];
    const t = <H extends BackendTensor>(h: H): H => {
      temps.push(h);
      return h;
    };
    let x = be.add(t(be.embedding(this.wte, ids)), t(be.embedding(this.wpe, positions)));
    for (let l = 0; l < this.blocks.length; l++) {
      const block = this.blocks[l];
      const lin = (input: BackendTensor, module: Gpt2LinearModule) => {
        // the observer gets its own copy (it may read it back asynchronously after this pass frees `input`)
        if (options.observe) options.observe(`transformer.h.${l}.${module}`, be.scale(input, 1));
        const { weight, bias } = block.linears[module];
        return be.add(t(applyLinear(be, input, weight)), bias);
      };
      const h = t(be.layerNorm(x, block.ln1.weight, block.ln1.bias, c.layerNormEpsilon));
      // c_attn is one linear [3E, E]: its output is q | k | v along the features
      const qkv = t(lin(h, 'attn.c_attn'));
      const part = (i: number) =>
        t(be.reshape(t(be.slice(qkv, [0, i * E], [T, E])), [T, c.nHead, c.headDim]));
      const q = part(0);
      const k = part(1);
      const v = part(2);
      const [K, V] = appendKv(be, cache, l, k, v);
      const att = t(
        be.attention(q, K, V, {
          causal: true,
          queryOffset: start,
          scale: gpt2AttentionScale(c, l),
        }),
      );
      const o = t(lin(t(be.reshape(att, [T, E])), 'attn.c_proj'));
      const x1 = t(be.add(x, o));
      const h2 = t(be.layerNorm(x1, block.ln2.weight, block.ln2.bias, c.layerNormEpsilon));
      const act = t(be.unary(t(lin(h2, 'mlp.c_fc')), c.activation));
      const mlp = t(lin(act, 'mlp.c_proj'));
      temps.push(x);
      x = be.add(x1, mlp);
      for (const tmp of temps.splice(0)) be.dispose(tmp);
    }
    cache.length += T;
    const last = options.lastOnly && T > 1 ? t(be.slice(x, [T - 1, 0], [1, E])) : x;
    const normed = t(be.layerNorm(last, this.lnF.weight, this.lnF.bias, c.layerNormEpsilon));
    const logits = applyLinear(be, normed, this.head);
    temps.push(x);
    for (const tmp of new Set(temps)) be.dispose(tmp);
    return logits;
  }

  /** [out, in] of a block linear, by module name (`transformer.h.{i}.mlp.c_fc`…). */
  linearShape(module: string): readonly [number, number] {
    const m = /^transformer\.h\.(\d+)\.(.+)$/.exec(module);
    const w = m ? this.blocks[Number(m[1])]?.linears[m[2] as Gpt2LinearModule] : undefined;
    if (w === undefined) throw new RangeError(`no block linear '${module}'`);
    return w.weight.shape;
  }

  /** Parameters of the block linears' weights (dense or structured) — what compression changes. */
  linearParameterCount(): number {
    let n = 0;
    for (const block of this.blocks)
      for (const w of Object.values(block.linears)) n += w.weight.parameterCount;
    return n;
  }

  disposeCache(cache: Gpt2KvCache): void {
    disposeKvCache(this.backend, cache);
  }

  /** Frees every weight on the backend. */
  dispose(): void {
    const be = this.backend;
    be.dispose(this.wte);
    be.dispose(this.wpe);
    for (const block of this.blocks) {
      for (const n of [block.ln1, block.ln2]) {
        be.dispose(n.weight);
        be.dispose(n.bias);
      }
      for (const w of Object.values(block.linears)) {
        disposeLinear(be, w.weight);
        be.dispose(w.bias);
      }
    }
    be.dispose(this.lnF.weight);
    be.dispose(this.lnF.bias);
    if (!this.config.tieWordEmbeddings) disposeLinear(be, this.head);
  }
}

/** transformers' GPT2Attention scaling: 1/√headDim if scale_attn_weights, then 1/(layer + 1) if asked. */
export function gpt2AttentionScale(c: Gpt2Config, layer: number): number {
  let s = c.scaleAttnWeights ? 1 / Math.sqrt(c.headDim) : 1;
  if (c.scaleAttnByInverseLayerIdx) s /= layer + 1;
  return s;
}

/** A Hugging Face GPT-2 folder (config.json + model.safetensors): its config and weights. */
export async function openHfGpt2(dir: string): Promise<{ config: Gpt2Config; source: SafetensorsSource }> {
  const path = join(dir, 'config.json');
  const json = await readHfConfig(dir);
  if (json.model_type !== 'gpt2')
    throw new ModelFormatError(path, `model_type is '${String(json.model_type)}', expected 'gpt2'`);
  return { config: gpt2ConfigFromHf(json, path), source: await SafetensorsSource.openFolder(dir) };
}

/** [rows, cols] → [cols, rows]: a Conv1D weight [in, out] as the linear weight [out, in]. */
function transpose2d(w: Tensor): Tensor {
  const [rows, cols] = w.shape;
  const out = new Tensor([cols, rows]);
  const src = w.data;
  const dst = out.data;
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) dst[j * rows + i] = src[i * cols + j];
  return out;
}
