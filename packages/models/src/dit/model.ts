import { join } from 'node:path';
import {
  type Backend,
  type BackendTensor,
  CpuBackend,
  expectShape,
  ShapeError,
  type StructuredMatrix,
  Tensor,
} from '@blastkit/core';
import { readHfConfig, SafetensorsSource } from '../hf/safetensors-source.js';
import { applyLinear, disposeLinear, loadLinear, type UploadedLinear } from '../linear.js';
import { checkedReader, ModelFormatError, type TensorSource } from '../tensor-source.js';
import {
  DIT_FREQUENCY_EMBEDDING_SIZE,
  DIT_LINEAR_MODULES,
  type DitConfig,
  ditConfigFromJson,
  ditDims,
  ditLinearShapes,
  ditWeightShapes,
} from './config.js';

export interface DitLoadOptions {
  backend?: Backend;
  /**
   * Structured matrices replacing linears, by module name (e.g. `blocks.1.mlp.fc1`; any name of
   * `ditLinearShapes`, the patch embedding `x_embedder.proj` as its [H, C·p·p] matrix): those weights are not
   * read from the source, and the layer runs through the structure's own forward. Biases stay dense.
   */
  replacements?: ReadonlyMap<string, StructuredMatrix>;
  /** Name of the weight file, for error messages. */
  file?: string;
}

export interface DitForwardOptions {
  /**
   * Called with a copy of the input [rows, in] of every linear, by module name — how calibration activations
   * are collected (the decoders' hook). The observer owns the copy: download it, then dispose it.
   */
  observe?: (module: string, input: BackendTensor) => void;
}

/** A linear layer with its (always dense) bias: every DiT linear has one. */
interface BiasedLinear {
  weight: UploadedLinear;
  bias: BackendTensor;
}

/** LayerNorm epsilon of every DiT norm (`nn.LayerNorm(..., elementwise_affine=False, eps=1e-6)`). */
const LAYER_NORM_EPS = 1e-6;

/**
 * A DiT (facebookresearch/DiT `models.py`: patch embedding, sinusoidal timestep and class-label conditioning,
 * adaLN-Zero transformer blocks, final adaLN layer, unpatchify) on any core Backend, in eval mode (no label
 * dropout). Patchify, unpatchify and the timestep features run on the host; everything else on the backend.
 */
export class DitModel {
  private constructor(
    readonly config: DitConfig,
    readonly backend: Backend,
    private readonly linears: Map<string, BiasedLinear>,
    /** [T, H]: broadcasts over the batch of [N, T, H] tokens. */
    private readonly posEmbed: BackendTensor,
    private readonly labelTable: BackendTensor,
    /** Weight and bias of the affine-free LayerNorms (the Backend's layerNorm always takes both). */
    private readonly normOnes: BackendTensor,
    private readonly normZeros: BackendTensor,
  ) {}

  /** Loads every weight from `source` (a DiT state dict), checking names and shapes, one tensor at a time. */
  static async load(
    source: TensorSource,
    config: DitConfig,
    options: DitLoadOptions = {},
  ): Promise<DitModel> {
    const be = options.backend ?? new CpuBackend();
    const file = options.file ?? 'model';
    const replacements = options.replacements ?? new Map<string, StructuredMatrix>();
    const shapes = ditWeightShapes(config);
    const linearShapes = ditLinearShapes(config);
    for (const name of replacements.keys())
      if (!linearShapes.has(name))
        throw new ModelFormatError(
          file,
          `no linear '${name}' to replace (DiT linears: blocks.{i}.{${DIT_LINEAR_MODULES.join(', ')}}, ` +
            `x_embedder.proj, t_embedder.mlp.{0,2}, final_layer.{linear, adaLN_modulation.1})`,
        );
    const available = new Set(source.names());
    // a state dict with more blocks (or other extra tensors) than the config says would otherwise load silently
    const extra = [...available].filter((name) => !shapes.has(name));
    if (extra.length > 0)
      throw new ModelFormatError(
        file,
        `unexpected tensor '${extra[0]}'${extra.length > 1 ? ` (and ${extra.length - 1} more)` : ''}: ` +
          `not part of a DiT with depth ${config.depth} (is the config right?)`,
      );
    const read = checkedReader(source, shapes, file);

    const linears = new Map<string, BiasedLinear>();
    for (const [module, expected] of linearShapes) {
      // the patch embedding's conv kernel [H, C, p, p] is a linear on (C, p, p)-ordered patches
      const weight = await loadLinear(be, file, module, expected, replacements.get(module), async () =>
        (await read(`${module}.weight`)).reshape(expected),
      );
      linears.set(module, { weight, bias: be.upload(await read(`${module}.bias`)) });
    }
    const { tokens } = ditDims(config);
    const H = config.hiddenSize;
    const posEmbed = be.upload((await read('pos_embed')).reshape([tokens, H]));
    const labelTable = be.upload(await read('y_embedder.embedding_table.weight'));
    return new DitModel(
      config,
      be,
      linears,
      posEmbed,
      labelTable,
      be.upload(Tensor.filled([H], 1)),
      be.upload(Tensor.zeros([H])),
    );
  }

  /**
   * DiT's `forward(x, t, y)`: x [N, C, S, S] latents, t N timesteps (fractional allowed), y N class labels
   * (`numClasses` is the null class when class_dropout_prob > 0) → [N, outChannels, S, S].
   */
  async forward(x: Tensor, t: Float32Array, y: Int32Array, options: DitForwardOptions = {}): Promise<Tensor> {
    const c = this.config;
    const be = this.backend;
    const { observe } = options;
    // the observer gets its own copy (it may read it back asynchronously after this pass frees the input)
    const linear = (input: BackendTensor, module: string): BackendTensor => {
      if (observe) observe(module, be.scale(input, 1));
      return this.linear(input, module);
    };
    const { tokens: T, headDim } = ditDims(c);
    const H = c.hiddenSize;
    const N = this.checkInputs(x, t, y);
    const keep: BackendTensor[] = [];
    const k = <B extends BackendTensor>(h: B): B => {
      keep.push(h);
      return h;
    };
    const free = () => {
      for (const h of new Set(keep.splice(0))) be.dispose(h);
    };
    // the hidden state and SiLU(c) outlive each block's temporaries; freed at the end, or on an error
    const carried: BackendTensor[] = [];
    try {
      const patches = k(be.upload(patchify(x, c)));
      const embedded = k(linear(patches, 'x_embedder.proj'));
      let h = be.add(k(be.reshape(embedded, [N, T, H])), this.posEmbed); // [N, T, H]
      carried.push(h);
      const freqs = k(be.upload(timestepEmbedding(t)));
      const tHidden = k(be.unary(k(linear(freqs, 't_embedder.mlp.0')), 'silu'));
      const tEmb = k(linear(tHidden, 't_embedder.mlp.2'));
      const yEmb = k(be.embedding(this.labelTable, y));
      // every adaLN_modulation starts with SiLU(c): computed once
      const cond = be.unary(k(be.add(tEmb, yEmb)), 'silu');
      carried.push(cond);
      free();
      const chunk = (mod: BackendTensor, j: number) =>
        k(be.reshape(k(be.slice(mod, [0, j * H], [N, H])), [N, 1, H]));
      const modulated = (x3: BackendTensor, mod: BackendTensor, shift: number, scale: number) => {
        const normed = k(be.layerNorm(x3, this.normOnes, this.normZeros, LAYER_NORM_EPS));
        // modulate(x, shift, scale) = x·(1 + scale) + shift, per image
        const scaled = k(be.mul(normed, k(be.scale(chunk(mod, scale), 1, 1))));
        return k(be.reshape(k(be.add(scaled, chunk(mod, shift))), [N * T, H]));
      };
      const gated = (x3: BackendTensor, mod: BackendTensor, gate: number, out: BackendTensor) =>
        be.add(x3, k(be.mul(k(be.reshape(out, [N, T, H])), chunk(mod, gate))));
      const qkvShape = [N, T, 3, c.numHeads, headDim];
      const headShape = [T, c.numHeads, headDim];
      for (let i = 0; i < c.depth; i++) {
        const p = `blocks.${i}`;
        // shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp
        const mod = k(linear(cond, `${p}.adaLN_modulation.1`));
        const qkv = k(be.reshape(k(linear(modulated(h, mod, 0, 1), `${p}.attn.qkv`)), qkvShape));
        // one attention per image; qkv columns are [3, heads, headDim] as timm's Attention splits them
        const heads: BackendTensor[] = [];
        for (let n = 0; n < N; n++) {
          const part = (j: number) =>
            k(be.reshape(k(be.slice(qkv, [n, 0, j, 0, 0], [1, T, 1, c.numHeads, headDim])), headShape));
          heads.push(k(be.attention(part(0), part(1), part(2), { causal: false })));
        }
        const att = k(be.reshape(k(be.concat(heads, 0)), [N * T, H]));
        const h1 = k(gated(h, mod, 2, k(linear(att, `${p}.attn.proj`))));
        const hidden = k(be.unary(k(linear(modulated(h1, mod, 3, 4), `${p}.mlp.fc1`)), 'gelu_tanh'));
        keep.push(h);
        h = gated(h1, mod, 5, k(linear(hidden, `${p}.mlp.fc2`)));
        carried.push(h);
        free();
      }
      const mod = k(linear(cond, 'final_layer.adaLN_modulation.1')); // shift, scale
      const out = await be.download(k(linear(modulated(h, mod, 0, 1), 'final_layer.linear')));
      return unpatchify(out, c, N);
    } finally {
      keep.push(...carried);
      free();
    }
  }

  /**
   * DiT's `forward_with_cfg`: the first half of x runs twice, with the first and second halves of y (labels,
   * then null labels), and the first `channels` output channels (3, as the repo does "for exact
   * reproducibility"; the in_channels eps channels is the textbook choice) become
   * uncond + cfgScale·(cond − uncond) in both halves. The rest of the output is returned unguided.
   */
  async forwardWithCfg(
    x: Tensor,
    t: Float32Array,
    y: Int32Array,
    cfgScale: number,
    options: { channels?: number } = {},
  ): Promise<Tensor> {
    const N = x.shape[0];
    if (x.rank !== 4 || N % 2 !== 0)
      throw new ShapeError(
        `DiT forwardWithCfg: x has shape [${x.shape}], expected an even batch [2·B,C,H,W]`,
      );
    if (!Number.isFinite(cfgScale))
      throw new RangeError(`DiT forwardWithCfg: cfgScale ${cfgScale} is not finite`);
    const half = N / 2;
    const per = x.size / N;
    const combined = new Tensor(x.shape);
    combined.data.set(x.data.subarray(0, half * per));
    combined.data.set(x.data.subarray(0, half * per), half * per);
    const out = await this.forward(combined, t, y);
    const outC = this.config.outChannels;
    const plane = out.size / (N * outC);
    const channels = Math.min(options.channels ?? 3, outC);
    const d = out.data;
    for (let n = 0; n < half; n++)
      for (let i = 0; i < channels * plane; i++) {
        const cond = d[n * outC * plane + i];
        const uncond = d[(n + half) * outC * plane + i];
        const guided = uncond + cfgScale * (cond - uncond);
        d[n * outC * plane + i] = guided;
        d[(n + half) * outC * plane + i] = guided;
      }
    return out;
  }

  /** Weights of every linear (dense or structured, biases excluded) — what compression changes. */
  linearParameterCount(): number {
    let n = 0;
    for (const l of this.linears.values()) n += l.weight.parameterCount;
    return n;
  }

  /** Frees every weight on the backend. */
  dispose(): void {
    const be = this.backend;
    for (const l of this.linears.values()) {
      disposeLinear(be, l.weight);
      be.dispose(l.bias);
    }
    for (const h of [this.posEmbed, this.labelTable, this.normOnes, this.normZeros]) be.dispose(h);
  }

  private linear(x: BackendTensor, module: string): BackendTensor {
    const be = this.backend;
    const l = this.linears.get(module) as BiasedLinear;
    if (l.weight.kind === 'dense') return be.linear(x, l.weight.tensors.weight, l.bias);
    const y = applyLinear(be, x, l.weight);
    const out = be.add(y, l.bias);
    be.dispose(y);
    return out;
  }

  private checkInputs(x: Tensor, t: Float32Array, y: Int32Array): number {
    const c = this.config;
    if (!(x instanceof Tensor)) throw new ShapeError('DiT forward: x must be a host Tensor [N,C,H,W]');
    expectShape('DiT forward: x', x.shape, [-1, c.inChannels, c.inputSize, c.inputSize]);
    const N = x.shape[0];
    if (N === 0) throw new ShapeError('DiT forward: x holds no images');
    if (t.length !== N) throw new ShapeError(`DiT forward: ${t.length} timesteps for ${N} images`);
    if (y.length !== N) throw new ShapeError(`DiT forward: ${y.length} class labels for ${N} images`);
    for (let n = 0; n < N; n++)
      if (!Number.isFinite(t[n])) throw new RangeError(`DiT forward: timestep ${n} is ${t[n]}`);
    const rows = ditDims(c).labelRows;
    for (let n = 0; n < N; n++)
      if (!(Number.isInteger(y[n]) && y[n] >= 0 && y[n] < rows))
        throw new RangeError(
          `DiT forward: class label ${y[n]} (image ${n}) is outside [0, ${rows})` +
            (rows > c.numClasses
              ? ` (${c.numClasses} is the null class)`
              : ' (no null class: class_dropout_prob is 0)'),
        );
    return N;
  }
}

/**
 * DiT's `TimestepEmbedder.timestep_embedding` (GLIDE's): [cos(t·f), sin(t·f)] with f_i = maxPeriod^(−i/half),
 * in float32 steps as PyTorch computes them → [N, dim].
 */
export function timestepEmbedding(
  t: Float32Array,
  dim = DIT_FREQUENCY_EMBEDDING_SIZE,
  maxPeriod = 10000,
): Tensor {
  const half = Math.floor(dim / 2);
  const f = Math.fround;
  const logMax = f(-Math.log(maxPeriod));
  const freqs = Float32Array.from({ length: half }, (_, i) => f(Math.exp(f(f(logMax * i) / half))));
  const out = new Tensor([t.length, dim]); // an odd dim leaves its last column 0, as the repo pads it
  for (let n = 0; n < t.length; n++)
    for (let i = 0; i < half; i++) {
      const arg = f(t[n] * freqs[i]);
      out.data[n * dim + i] = Math.cos(arg);
      out.data[n * dim + half + i] = Math.sin(arg);
    }
  return out;
}

/** [N, C, S, S] → [N·T, C·p·p]: token (gh, gw) row-major, each patch in (C, p, p) order like the conv kernel. */
function patchify(x: Tensor, c: DitConfig): Tensor {
  const { grid, tokens, patchDim } = ditDims(c);
  const { patchSize: p, inChannels: C, inputSize: S } = c;
  const N = x.shape[0];
  const out = new Tensor([N * tokens, patchDim]);
  const o = out.data;
  const d = x.data;
  for (let n = 0; n < N; n++)
    for (let gh = 0; gh < grid; gh++)
      for (let gw = 0; gw < grid; gw++) {
        const row = (n * tokens + gh * grid + gw) * patchDim;
        for (let ch = 0; ch < C; ch++)
          for (let i = 0; i < p; i++) {
            const src = ((n * C + ch) * S + gh * p + i) * S + gw * p;
            o.set(d.subarray(src, src + p), row + (ch * p + i) * p);
          }
      }
  return out;
}

/** DiT's `unpatchify`: [N·T, p·p·C′] with columns (p, q, c) → [N, C′, S, S]. */
function unpatchify(y: Tensor, c: DitConfig, N: number): Tensor {
  const { grid, tokens } = ditDims(c);
  const { patchSize: p, outChannels: C, inputSize: S } = c;
  const out = new Tensor([N, C, S, S]);
  const o = out.data;
  const d = y.data;
  for (let n = 0; n < N; n++)
    for (let gh = 0; gh < grid; gh++)
      for (let gw = 0; gw < grid; gw++) {
        const row = (n * tokens + gh * grid + gw) * p * p * C;
        for (let i = 0; i < p; i++)
          for (let j = 0; j < p; j++)
            for (let ch = 0; ch < C; ch++)
              o[((n * C + ch) * S + gh * p + i) * S + gw * p + j] = d[row + (i * p + j) * C + ch];
      }
  return out;
}

/** A DiT folder (blastkit's DiT `config.json` + `model.safetensors`, the state dict): its config and weights. */
export async function openDitFolder(dir: string): Promise<{ config: DitConfig; source: SafetensorsSource }> {
  const config = ditConfigFromJson(await readHfConfig(dir), join(dir, 'config.json'));
  return { config, source: await SafetensorsSource.open(join(dir, 'model.safetensors')) };
}
