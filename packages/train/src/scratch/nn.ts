import { InvalidArgumentError, Rng } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  createStructuredLinear,
  FACTOR_NAMES,
  rankForParameters,
  type StructuredKind,
  type StructuredLinear,
  type StructuredLinearSpec,
} from '../layers.js';

/**
 * Building blocks shared by the from-scratch ViT and GPT: layer norm, GELU, multi-head attention and the
 * pre-norm transformer block, every projection a StructuredLinear. Only ops whose gradients every tfjs engine
 * (cpu, wasm, node) implements are used — no gather (its gradient needs UnsortedSegmentSum, which the wasm
 * engine lacks): token lookup is a one-hot matmul.
 */

/** How the transformer blocks' linear layers are structured. */
export interface StructureSpec {
  kind: StructuredKind;
  /**
   * Parameters of each structured layer as a fraction of the dense layer's (ignored for dense). Every kind gets
   * the largest rank that fits (`rankForParameters`), so low-rank, Monarch and BLAST models of the same fraction
   * have equal parameter counts up to rounding of the rank — and equal FLOPs, since each of these layers costs
   * 2 FLOPs per parameter per row.
   */
  fraction?: number;
  /** Block count b of BLAST and Monarch (must divide every projection's sizes). */
  blocks?: number;
}

/** The spec of one structured projection `inFeatures → outFeatures` under `structure`. */
export function projectionSpec(
  structure: StructureSpec,
  inFeatures: number,
  outFeatures: number,
  seed: number,
  name?: string,
): StructuredLinearSpec {
  // `name` is for messages only: tf variable names must be unique among live variables, and two copies of a
  // model (a determinism check, a resumed run) may be alive at once
  const { kind } = structure;
  if (kind === 'dense') return { kind, inFeatures, outFeatures, bias: true, seed };
  const fraction = structure.fraction;
  if (fraction === undefined || !(fraction > 0 && fraction <= 1))
    throw new InvalidArgumentError(`${name ?? 'projection'}: a ${kind} structure needs a fraction in (0, 1]`);
  const blocks = kind === 'lowrank' ? undefined : structure.blocks;
  if (kind !== 'lowrank' && blocks === undefined)
    throw new InvalidArgumentError(`${name ?? 'projection'}: a ${kind} structure needs a block count`);
  const budget = Math.floor(fraction * inFeatures * outFeatures);
  const rank = rankForParameters(kind, inFeatures, outFeatures, budget, blocks);
  return { kind, inFeatures, outFeatures, rank, blocks, bias: true, seed };
}

/** A trainable tensor, its name in checkpoints, and whether AdamW's weight decay applies to it. */
export interface ScratchParam {
  name: string;
  variable: tf.Variable;
  decay: boolean;
}

/** A N(0, std²) variable drawn from the seeded Rng. */
export function normalVariable(shape: number[], std: number, seed: number): tf.Variable {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Rng(seed).fillNormal(new Float32Array(size), std) as Float32Array;
  return tf.variable(tf.tensor(data, shape, 'float32'), true);
}

/** Layer norm over the last axis with a learned gain and shift (eps 1e-5, as PyTorch). */
export class LayerNorm {
  readonly gain: tf.Variable;
  readonly shift: tf.Variable;
  constructor(readonly features: number) {
    this.gain = tf.variable(tf.ones([features]), true);
    this.shift = tf.variable(tf.zeros([features]), true);
  }
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1, true);
      const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5)));
      return tf.add(tf.mul(normed, this.gain), this.shift) as tf.Tensor2D;
    });
  }
  params(name: string): ScratchParam[] {
    // decaying a norm gain towards 0 is not a regulariser
    return [
      { name: `${name}.weight`, variable: this.gain, decay: false },
      { name: `${name}.bias`, variable: this.shift, decay: false },
    ];
  }
  dispose(): void {
    this.gain.dispose();
    this.shift.dispose();
  }
}

/** GELU, tanh approximation (GPT-2's). */
export function gelu<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => {
    // x·x·x, not pow(x, 3): pow's gradient goes through log and costs ~10× more on the wasm engine
    const cube = tf.mul(tf.mul(x, x), x);
    const inner = tf.mul(tf.add(x, tf.mul(cube, 0.044715)), Math.sqrt(2 / Math.PI));
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1)) as T;
  });
}

/**
 * The parameters of a structured layer built with a bias (every layer here has one): its factors in
 * FACTOR_NAMES order, then the bias (layers.ts's order). Factors decay, the bias does not.
 */
export function linearParams(layer: StructuredLinear, name: string): ScratchParam[] {
  const names = [...FACTOR_NAMES[layer.kind], 'bias'];
  if (layer.variables.length !== names.length)
    throw new InvalidArgumentError(
      `${name}: ${layer.variables.length} variables, expected ${names.join(', ')} (a layer without its bias?)`,
    );
  return layer.variables.map((variable, i) => ({
    name: `${name}.${names[i]}`,
    variable,
    decay: names[i] !== 'bias',
  }));
}

/** Options shared by the transformer blocks of both models. */
export interface BlockOptions {
  dim: number;
  heads: number;
  mlpRatio: number;
  structure: StructureSpec;
  /** Causal mask (decoder) or full attention (encoder). */
  causal: boolean;
  seed: number;
  name: string;
}

/**
 * The stack of `depth` blocks both models use: block i is seeded `seed·1000 + 10 + i` and named `prefix.i`
 * (the seeds are part of the models' determinism, so both keep the same scheme).
 */
export function transformerStack(
  config: {
    depth: number;
    dim: number;
    heads: number;
    mlpRatio: number;
    structure: StructureSpec;
    seed: number;
  },
  causal: boolean,
  prefix: string,
): TransformerBlock[] {
  return Array.from(
    { length: config.depth },
    (_, i) =>
      new TransformerBlock({
        dim: config.dim,
        heads: config.heads,
        mlpRatio: config.mlpRatio,
        structure: config.structure,
        causal,
        seed: config.seed * 1000 + 10 + i,
        name: `${prefix}.${i}`,
      }),
  );
}

/** A pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x)), six structured projections. */
export class TransformerBlock {
  readonly ln1: LayerNorm;
  readonly ln2: LayerNorm;
  readonly q: StructuredLinear;
  readonly k: StructuredLinear;
  readonly v: StructuredLinear;
  readonly o: StructuredLinear;
  readonly fc1: StructuredLinear;
  readonly fc2: StructuredLinear;
  private readonly headDim: number;

  constructor(readonly options: BlockOptions) {
    const { dim, heads, mlpRatio, structure, seed, name } = options;
    if (!Number.isInteger(dim / heads))
      throw new InvalidArgumentError(`${name}: ${heads} heads do not divide the width ${dim}`);
    const hidden = dim * mlpRatio;
    this.headDim = dim / heads;
    this.ln1 = new LayerNorm(dim);
    this.ln2 = new LayerNorm(dim);
    const make = (i: number, inF: number, outF: number, part: string) =>
      createStructuredLinear(projectionSpec(structure, inF, outF, seed * 16 + i, `${name}.${part}`));
    this.q = make(0, dim, dim, 'attn.q');
    this.k = make(1, dim, dim, 'attn.k');
    this.v = make(2, dim, dim, 'attn.v');
    this.o = make(3, dim, dim, 'attn.o');
    this.fc1 = make(4, dim, hidden, 'mlp.fc1');
    this.fc2 = make(5, hidden, dim, 'mlp.fc2');
  }

  /** The six structured projections, in the order q, k, v, o, fc1, fc2. */
  linears(): StructuredLinear[] {
    return [this.q, this.k, this.v, this.o, this.fc1, this.fc2];
  }

  /** x: [batch·tokens, dim] → same; `mask` (causal only) is [tokens, tokens] with −∞ above the diagonal. */
  apply(x: tf.Tensor2D, batch: number, tokens: number, mask?: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const { dim, heads } = this.options;
      const h = this.ln1.apply(x);
      const split = (t: tf.Tensor2D) =>
        tf.transpose(tf.reshape(t, [batch, tokens, heads, this.headDim]), [0, 2, 1, 3]);
      const q = split(this.q.apply(h));
      const k = split(this.k.apply(h));
      const v = split(this.v.apply(h));
      let scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(this.headDim)); // [B, H, T, T]
      if (this.options.causal) {
        if (!mask) throw new InvalidArgumentError(`${this.options.name}: a causal block needs its mask`);
        scores = tf.add(scores, mask);
      }
      const attended = tf.matMul(tf.softmax(scores), v); // [B, H, T, dh]
      const merged = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [batch * tokens, dim]) as tf.Tensor2D;
      const x1 = tf.add(x, this.o.apply(merged)) as tf.Tensor2D;
      const m = this.fc2.apply(gelu(this.fc1.apply(this.ln2.apply(x1))));
      return tf.add(x1, m) as tf.Tensor2D;
    });
  }

  /** FLOPs of the attention score and mixing matmuls for one sequence (not in any linear layer). */
  attentionFlops(tokens: number): number {
    return 2 * 2 * tokens * tokens * this.options.dim;
  }

  params(): ScratchParam[] {
    const n = this.options.name;
    const parts = ['attn.q', 'attn.k', 'attn.v', 'attn.o', 'mlp.fc1', 'mlp.fc2'];
    return [
      ...this.ln1.params(`${n}.ln1`),
      ...this.ln2.params(`${n}.ln2`),
      ...this.linears().flatMap((l, i) => linearParams(l, `${n}.${parts[i]}`)),
    ];
  }

  dispose(): void {
    this.ln1.dispose();
    this.ln2.dispose();
    for (const l of this.linears()) l.dispose();
  }
}

/** The additive causal mask [T, T]: 0 on and below the diagonal, a large negative number above. */
export function causalMask(tokens: number): tf.Tensor2D {
  const data = new Float32Array(tokens * tokens);
  for (let i = 0; i < tokens; i++) for (let j = i + 1; j < tokens; j++) data[i * tokens + j] = -1e9;
  return tf.tensor2d(data, [tokens, tokens]);
}

/**
 * One-hot rows [ids.length, depth] as float32, built on the host: tfjs-backend-wasm 4.22's OneHot kernel
 * ignores the dtype argument and fills a float32 tensor with int32 bit patterns (1 reads as 1.4e-45). Ids
 * outside [0, depth) give an all-zero row.
 */
export function oneHotRows(ids: ArrayLike<number>, depth: number): tf.Tensor2D {
  const data = new Float32Array(ids.length * depth);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id >= 0 && id < depth) data[i * depth + id] = 1;
  }
  return tf.tensor2d(data, [ids.length, depth]);
}

/** Mean cross-entropy (nats) of logits [N, C] against integer labels; rows with label < 0 are ignored. */
export function crossEntropy(logits: tf.Tensor2D, labels: Int32Array): tf.Scalar {
  return tf.tidy(() => {
    const classes = logits.shape[1];
    if (labels.length !== logits.shape[0])
      throw new InvalidArgumentError(`crossEntropy: ${labels.length} labels for ${logits.shape[0]} rows`);
    let counted = 0;
    for (let i = 0; i < labels.length; i++) {
      if (labels[i] >= classes)
        throw new InvalidArgumentError(`crossEntropy: label ${i} is ${labels[i]}, beyond ${classes} classes`);
      if (labels[i] >= 0) counted++;
    }
    if (counted === 0) throw new InvalidArgumentError('crossEntropy: every label is ignored');
    // an ignored label's one-hot row is all zeros, so its row adds nothing to the sum
    const target = oneHotRows(labels, classes);
    const nll = tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(logits))));
    return tf.div(nll, counted) as tf.Scalar;
  });
}
