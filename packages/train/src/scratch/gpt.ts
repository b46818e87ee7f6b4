import { InvalidArgumentError, Rng, ShapeError } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  causalMask,
  LayerNorm,
  normalVariable,
  oneHotRows,
  type ScratchParam,
  type StructureSpec,
  type TransformerBlock,
  transformerStack,
} from './nn.js';
import type { ModelCounts } from './vit.js';

/** A small GPT-2-style decoder. */
export interface GptConfig {
  /** Vocabulary size (256 for the byte tokenizer). */
  vocab: number;
  /** Longest sequence (learned position embeddings). */
  context: number;
  dim: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  /** How q, k, v, o, fc1 and fc2 of every block are structured; the embeddings (tied to the head) stay dense. */
  structure: StructureSpec;
  seed: number;
}

function checkGptConfig(c: GptConfig): void {
  for (const key of ['vocab', 'context', 'dim', 'depth', 'heads', 'mlpRatio'] as const) {
    const v = c[key];
    if (!Number.isInteger(v) || v <= 0)
      throw new InvalidArgumentError(`GPT config: ${key} must be a positive integer, got ${v}`);
  }
}

/**
 * GPT-2's layout at small scale: token + learned position embeddings, pre-norm blocks with causal attention
 * and a GELU MLP, a final layer norm and a head tied to the token embedding. Embeddings start at N(0, 0.02²)
 * as in GPT-2; no dropout, so a run is a function of its seeds.
 */
export class ScratchGpt {
  readonly tokens: tf.Variable;
  readonly position: tf.Variable;
  readonly blocks: TransformerBlock[];
  readonly norm: LayerNorm;
  private readonly masks = new Map<number, tf.Tensor2D>();

  constructor(readonly config: GptConfig) {
    checkGptConfig(config);
    const { vocab, context, dim, seed } = config;
    this.tokens = normalVariable([vocab, dim], 0.02, seed * 1000 + 1);
    this.position = normalVariable([context, dim], 0.02, seed * 1000 + 2);
    this.blocks = transformerStack(config, true, 'h');
    this.norm = new LayerNorm(dim);
  }

  private mask(length: number): tf.Tensor2D {
    let m = this.masks.get(length);
    if (!m) {
      m = tf.keep(causalMask(length));
      this.masks.set(length, m);
    }
    return m;
  }

  /** ids [batch·length] (row-major sequences, 0 ≤ id < vocab) → next-token logits [batch·length, vocab]. */
  logits(ids: Int32Array, batch: number, length: number): tf.Tensor2D {
    const { vocab, context, dim } = this.config;
    if (!Number.isInteger(batch) || !Number.isInteger(length) || batch <= 0 || length <= 0)
      throw new ShapeError(`GPT: bad batch ${batch} × length ${length}`);
    if (length > context)
      throw new ShapeError(`GPT: sequences of ${length} tokens exceed the context ${context}`);
    if (ids.length !== batch * length)
      throw new ShapeError(`GPT: ${ids.length} ids for batch ${batch} × length ${length}`);
    const bad = ids.findIndex((t) => !(t >= 0 && t < vocab));
    if (bad >= 0) throw new InvalidArgumentError(`GPT: token ${bad} is ${ids[bad]}, outside [0, ${vocab})`);
    const mask = this.mask(length);
    return tf.tidy(() => {
      // one-hot matmul instead of gather: its gradient is a matmul every engine has (see nn.ts)
      const onehot = oneHotRows(ids, vocab);
      const e = tf.reshape(tf.matMul(onehot, this.tokens), [batch, length, dim]);
      const pos = length === context ? this.position : tf.slice(this.position, [0, 0], [length, dim]);
      let x = tf.reshape(tf.add(e, pos), [batch * length, dim]) as tf.Tensor2D;
      for (const block of this.blocks) x = block.apply(x, batch, length, mask);
      return tf.matMul(this.norm.apply(x), this.tokens, false, true);
    });
  }

  params(): ScratchParam[] {
    return [
      { name: 'wte', variable: this.tokens, decay: true },
      { name: 'wpe', variable: this.position, decay: false },
      ...this.blocks.flatMap((b) => b.params()),
      ...this.norm.params('ln_f'),
    ];
  }

  /** Counts per token at full context (attention FLOPs averaged over the positions of a full window). */
  counts(): ModelCounts {
    const { vocab, dim, context } = this.config;
    const blockLinears = this.blocks.flatMap((b) => b.linears());
    const blockLinearFlops = blockLinears.reduce((s, l) => s + l.flopsPerRow(), 0);
    // causal attention at full context: the matmuls are computed over the whole T×T square here
    const attention = this.blocks.reduce((s, b) => s + b.attentionFlops(context), 0) / context;
    return {
      parameters: this.params().reduce((s, p) => s + p.variable.size, 0),
      blockLinearParameters: blockLinears.reduce((s, l) => s + l.parameterCount(), 0),
      blockLinearFlops,
      // the embedding lookup is a one-hot matmul here but a gather in any real deployment: not counted
      forwardFlops: blockLinearFlops + attention + 2 * vocab * dim,
    };
  }

  /**
   * Continues `prompt` by `count` tokens: greedy when temperature is 0, else sampled with the seeded Rng.
   * The window slides when the context is full.
   */
  generate(prompt: ArrayLike<number>, count: number, options: { temperature?: number; seed?: number } = {}) {
    const temperature = options.temperature ?? 0;
    const rng = new Rng(options.seed ?? 0);
    const out = Array.from(prompt);
    if (out.length === 0) throw new InvalidArgumentError('GPT.generate: the prompt is empty');
    for (let i = 0; i < count; i++) {
      const window = Int32Array.from(out.slice(-this.config.context));
      const row = tf.tidy(() => {
        const logits = this.logits(window, 1, window.length);
        return tf.slice(logits, [window.length - 1, 0], [1, this.config.vocab]);
      });
      const values = row.dataSync() as Float32Array;
      row.dispose();
      out.push(temperature > 0 ? sample(values, temperature, rng) : argmax(values));
    }
    return out.slice(prompt.length);
  }

  dispose(): void {
    this.tokens.dispose();
    this.position.dispose();
    for (const b of this.blocks) b.dispose();
    this.norm.dispose();
    for (const m of this.masks.values()) m.dispose();
    this.masks.clear();
  }
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

function sample(logits: Float32Array, temperature: number, rng: Rng): number {
  const max = logits[argmax(logits)];
  const p = Array.from(logits, (l) => Math.exp((l - max) / temperature));
  let u = rng.uniform() * p.reduce((a, b) => a + b, 0);
  for (let i = 0; i < p.length; i++) if ((u -= p[i]) < 0) return i;
  return p.length - 1;
}

/**
 * The tokenizer of the from-scratch GPT: UTF-8 bytes, vocabulary 256. No merges to learn or ship, and every
 * text round-trips; the price is longer sequences (a multi-byte character is several tokens), so losses are
 * per byte.
 */
export class ByteTokenizer {
  readonly vocabSize = 256;
  encode(text: string): Int32Array {
    return Int32Array.from(new TextEncoder().encode(text));
  }
  decode(ids: ArrayLike<number>): string {
    return new TextDecoder().decode(Uint8Array.from(ids as ArrayLike<number>));
  }
}
