import {
  BlastMatrix,
  DenseMatrix,
  InvalidArgumentError,
  LowRankMatrix,
  MonarchMatrix,
  Rng,
  ShapeError,
  type StructuredMatrix,
  Tensor,
} from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients } from './engine/gradients.js';
import { matMul } from './ops.js';

// Every layer is trained through tf autograd: register the gradient functions when this module loads.
ensureGradients();

/** The structures a trainable layer can take. */
export type StructuredKind = 'dense' | 'lowrank' | 'monarch' | 'blast';

/** Every StructuredKind, for validating a kind read from a command line or a file. */
export const STRUCTURED_KINDS: readonly StructuredKind[] = ['dense', 'lowrank', 'monarch', 'blast'];

/** A trainable linear layer y = x·Aᵀ + bias, A [outFeatures, inFeatures], A structured by `kind`. */
export interface StructuredLinear {
  readonly kind: StructuredKind;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** The trainable factors (and bias, last). */
  readonly variables: tf.Variable[];
  /** [N, in] → [N, out]; differentiable through tf ops. */
  apply(x: tf.Tensor2D): tf.Tensor2D;
  parameterCount(): number;
  /** Multiply-adds ×2 for one input row (the bias add is not counted). */
  flopsPerRow(): number;
  dispose(): void;
}

/** What `createStructuredLinear` builds. */
export interface StructuredLinearSpec {
  kind: StructuredKind;
  inFeatures: number;
  outFeatures: number;
  /** lowrank / blast rank r; monarch: per-block rank r′. */
  rank?: number;
  /** blast / monarch block count b (divides both sizes). */
  blocks?: number;
  bias?: boolean;
  /** Seed of the deterministic initialisation. */
  seed: number;
  /** Prefix of the variable names (`${name}.B` …); names of live tf variables must be unique. */
  name?: string;
}

/** The factor names of each kind, in the order they appear in `variables` (bias follows). */
export const FACTOR_NAMES: Readonly<Record<StructuredKind, readonly string[]>> = {
  dense: ['weight'],
  lowrank: ['U', 'V'],
  monarch: ['L', 'R'],
  blast: ['B', 'C', 'D'],
};

function checkPositiveInt(what: string, v: number | undefined): number {
  if (v === undefined || !Number.isInteger(v) || v <= 0)
    throw new InvalidArgumentError(`${what}: expected a positive integer, got ${v}`);
  return v;
}

function checkKind(what: string, kind: string): StructuredKind {
  if (!(STRUCTURED_KINDS as readonly string[]).includes(kind))
    throw new InvalidArgumentError(
      `${what}: unknown kind '${kind}' (expected ${STRUCTURED_KINDS.join(', ')})`,
    );
  return kind as StructuredKind;
}

function checkBlocks(what: string, m: number, n: number, b: number): void {
  if (m % b !== 0 || n % b !== 0)
    throw new ShapeError(`${what}: ${b} blocks must divide both sizes (out ${m}, in ${n})`);
}

/**
 * The trainable layer: factors held as tf variables, forward as batched GEMMs that never build the dense
 * matrix, so autograd yields the factors' gradients directly.
 */
export class TfStructuredLinear implements StructuredLinear {
  readonly variables: tf.Variable[];
  /** The factor variables by name (B, C, D / U, V / L, R / weight). */
  readonly factors: Readonly<Record<string, tf.Variable>>;
  readonly bias: tf.Variable | null;
  /** BLAST / Monarch block count (1 for dense and low-rank). */
  readonly blocks: number;
  /** BLAST / low-rank rank r, Monarch per-block rank r′, min(in, out) for dense. */
  readonly rank: number;

  constructor(
    readonly kind: StructuredKind,
    readonly inFeatures: number,
    readonly outFeatures: number,
    factors: Record<string, tf.Variable>,
    bias: tf.Variable | null,
  ) {
    const m = outFeatures;
    const n = inFeatures;
    const names = FACTOR_NAMES[kind];
    for (const k of names) {
      if (!factors[k])
        throw new ShapeError(
          `${kind} layer: missing factor '${k}' (have ${Object.keys(factors).join(', ')})`,
        );
    }
    const shapeOf = (k: string): number[] => factors[k].shape as number[];
    const expect = (k: string, want: number[]) => {
      const got = shapeOf(k);
      if (got.length !== want.length || want.some((d, i) => d !== got[i]))
        throw new ShapeError(`${kind} layer: factor ${k} has shape [${got}], expected [${want}]`);
    };
    let b = 1;
    let r = Math.min(m, n);
    if (kind === 'dense') {
      expect('weight', [m, n]);
    } else if (kind === 'lowrank') {
      r = shapeOf('U')[1];
      expect('U', [m, r]);
      expect('V', [n, r]);
    } else if (kind === 'blast') {
      [b, , r] = shapeOf('B');
      checkBlocks('blast layer', m, n, b);
      expect('B', [b, m / b, r]);
      expect('C', [b, r, n / b]);
      expect('D', [b, b, r]);
    } else {
      b = shapeOf('L')[0];
      checkBlocks('monarch layer', m, n, b);
      const br = shapeOf('L')[2];
      if (br % b !== 0)
        throw new ShapeError(`monarch layer: L's last axis ${br} is not a multiple of b=${b}`);
      r = br / b;
      expect('L', [b, m / b, br]);
      expect('R', [b, br, n / b]);
    }
    if (bias) {
      if (bias.shape.length !== 1 || bias.shape[0] !== m)
        throw new ShapeError(`${kind} layer: bias has shape [${bias.shape}], expected [${m}]`);
    }
    this.blocks = b;
    this.rank = r;
    this.factors = factors;
    this.bias = bias;
    this.variables = [...names.map((k) => factors[k]), ...(bias ? [bias] : [])];
  }

  apply(x: tf.Tensor2D): tf.Tensor2D {
    if (x.rank !== 2 || x.shape[1] !== this.inFeatures)
      throw new ShapeError(
        `${this.kind} layer: input has shape [${x.shape}], expected [N,${this.inFeatures}]`,
      );
    return tf.tidy(() => {
      const y = this.applyMatrix(x);
      return this.bias ? tf.add(y, this.bias) : y;
    });
  }

  private applyMatrix(x: tf.Tensor2D): tf.Tensor2D {
    const N = x.shape[0];
    const m = this.outFeatures;
    const n = this.inFeatures;
    const f = this.factors;
    switch (this.kind) {
      case 'dense':
        return matMul(x, f.weight, false, true);
      case 'lowrank':
        // (x·V)·Uᵀ: r(m+n) MACs a row instead of mn.
        return matMul(matMul(x, f.V), f.U, false, true);
      case 'blast': {
        const b = this.blocks;
        // z_j = V_jᵀ x_j for every column block j at once: [b, N, q]·C_jᵀ → [b, N, r].
        const xb = tf.transpose(tf.reshape(x, [N, b, n / b]), [1, 0, 2]);
        const z = matMul(xb, f.C, false, true);
        // w_i = Σ_j s_ij ⊙ z_j as r small GEMMs [N, b_j]·[b_j, b_i] so the b×b×N×r product the reference
        // builds never exists (method.md §1).
        const zt = tf.transpose(z, [2, 1, 0]); // [r, N, b_j]
        const dt = tf.transpose(f.D, [2, 1, 0]); // [r, b_j, b_i]
        const w = tf.transpose(matMul(zt, dt), [2, 1, 0]); // [b_i, N, r]
        // y_i = U_i w_i: [b, N, r]·B_iᵀ → [b, N, p].
        const y = matMul(w, f.B, false, true);
        return tf.reshape(tf.transpose(y, [1, 0, 2]), [N, m]);
      }
      case 'monarch': {
        const b = this.blocks;
        const rp = this.rank;
        const xb = tf.transpose(tf.reshape(x, [N, b, n / b]), [1, 0, 2]); // [b_j, N, q]
        const z = matMul(xb, f.R, false, true); // [b_j, N, b·r′], group i goes to output block i
        // Route group i of input block j to output block i, landing at column group j of L_i.
        const routed = tf.reshape(tf.transpose(tf.reshape(z, [b, N, b, rp]), [2, 1, 0, 3]), [b, N, b * rp]);
        const y = matMul(routed, f.L, false, true); // [b_i, N, p]
        return tf.reshape(tf.transpose(y, [1, 0, 2]), [N, m]);
      }
    }
  }

  parameterCount(): number {
    return this.variables.reduce((s, v) => s + v.size, 0);
  }

  flopsPerRow(): number {
    const m = this.outFeatures;
    const n = this.inFeatures;
    const r = this.rank;
    const b = this.blocks;
    switch (this.kind) {
      case 'dense':
        return 2 * m * n;
      case 'lowrank':
        return 2 * r * (m + n);
      case 'blast':
        return 2 * r * (m + n + b * b);
      case 'monarch':
        return 2 * b * r * (m + n);
    }
  }

  /** The current factors as a @blastkit/core structured matrix (host copies, float32). */
  toStructuredMatrix(): StructuredMatrix {
    const host = (v: tf.Variable) => new Tensor(v.shape, v.dataSync() as Float32Array);
    const f = this.factors;
    switch (this.kind) {
      case 'dense':
        return new DenseMatrix(host(f.weight));
      case 'lowrank':
        return new LowRankMatrix(host(f.U), host(f.V));
      case 'blast':
        return new BlastMatrix(host(f.B), host(f.C), host(f.D));
      case 'monarch':
        return new MonarchMatrix(host(f.L), host(f.R));
    }
  }

  /** The bias as a host Float32Array copy, or null. */
  biasData(): Float32Array | null {
    return this.bias ? Float32Array.from(this.bias.dataSync() as Float32Array) : null;
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
  }
}

function makeVariable(
  data: Float32Array,
  shape: number[],
  name: string | undefined,
  key: string,
): tf.Variable {
  return tf.variable(
    tf.tensor(data, shape, 'float32'),
    true,
    name === undefined ? undefined : `${name}.${key}`,
  );
}

/**
 * From-scratch initialisation (the BLAST reference has none; it always starts from a factorized matrix).
 * Every kind is initialised so each entry of the implied matrix A has variance 1/inFeatures (LeCun normal,
 * what a dense layer gets), with the variance split evenly across the factors so their gradients start on
 * the same scale:
 * - dense: W ~ N(0, 1/n).
 * - lowrank: U, V ~ N(0, σ²) with r·σ⁴ = 1/n.
 * - monarch: L, R ~ N(0, σ²) with r′·σ⁴ = 1/n (each block A_ij has rank r′).
 * - blast: s_ij ~ N(0, 1) and U, V ~ N(0, σ²) with r·σ⁴ = 1/n. Random (not constant) s makes the initial
 *   blocks differ from each other, so A starts as a generic BLAST matrix of rank up to min(m, n, b·r) rather
 *   than a rank-r matrix.
 * The bias starts at zero. Factors are drawn from @blastkit/core's seeded Rng in the order of FACTOR_NAMES.
 */
export function createStructuredLinear(spec: StructuredLinearSpec): StructuredLinear {
  return createTfStructuredLinear(spec);
}

/** createStructuredLinear returning the concrete class (factor access, export to core matrices). */
export function createTfStructuredLinear(spec: StructuredLinearSpec): TfStructuredLinear {
  const kind = checkKind('createStructuredLinear', spec.kind);
  const m = checkPositiveInt('createStructuredLinear: outFeatures', spec.outFeatures);
  const n = checkPositiveInt('createStructuredLinear: inFeatures', spec.inFeatures);
  if (!Number.isFinite(spec.seed))
    throw new InvalidArgumentError(`createStructuredLinear: seed must be a number`);
  const rng = new Rng(spec.seed);
  const normal = (size: number, std: number) => rng.fillNormal(new Float32Array(size), std) as Float32Array;
  const targetVar = 1 / n;
  const factors: Record<string, tf.Variable> = {};
  const add = (key: string, shape: number[], data: Float32Array) => {
    factors[key] = makeVariable(data, shape, spec.name, key);
  };
  if (kind === 'dense') {
    add('weight', [m, n], normal(m * n, Math.sqrt(targetVar)));
  } else if (kind === 'lowrank') {
    const r = checkPositiveInt('createStructuredLinear: lowrank rank', spec.rank);
    const std = (targetVar / r) ** 0.25;
    add('U', [m, r], normal(m * r, std));
    add('V', [n, r], normal(n * r, std));
  } else if (kind === 'blast') {
    const r = checkPositiveInt('createStructuredLinear: blast rank', spec.rank);
    const b = checkPositiveInt('createStructuredLinear: blast blocks', spec.blocks);
    checkBlocks('createStructuredLinear (blast)', m, n, b);
    const std = (targetVar / r) ** 0.25;
    add('B', [b, m / b, r], normal(m * r, std));
    add('C', [b, r, n / b], normal(n * r, std));
    add('D', [b, b, r], normal(b * b * r, 1));
  } else {
    const rp = checkPositiveInt('createStructuredLinear: monarch rank', spec.rank);
    const b = checkPositiveInt('createStructuredLinear: monarch blocks', spec.blocks);
    checkBlocks('createStructuredLinear (monarch)', m, n, b);
    const std = (targetVar / rp) ** 0.25;
    add('L', [b, m / b, b * rp], normal(m * b * rp, std));
    add('R', [b, b * rp, n / b], normal(n * b * rp, std));
  }
  const bias = spec.bias ? makeVariable(new Float32Array(m), [m], spec.name, 'bias') : null;
  return new TfStructuredLinear(kind, n, m, factors, bias);
}

/** Options of `structuredLinearFromMatrix`. */
export interface FromMatrixOptions {
  /** Initial bias [out]; omitted → no bias. */
  bias?: Float32Array;
  /** Also add a zero-initialised trainable bias when `bias` is absent. */
  zeroBias?: boolean;
  name?: string;
}

/**
 * A trainable layer starting from factors that already exist (a compressed model's BLAST / low-rank /
 * Monarch / dense matrix from @blastkit/core). The factors are copied into tf variables unchanged.
 */
export function structuredLinearFromMatrix(
  matrix: StructuredMatrix,
  options: FromMatrixOptions = {},
): TfStructuredLinear {
  const [m, n] = matrix.shape;
  const named = matrix.toNamedTensors();
  let kind: StructuredKind;
  switch (matrix.kind) {
    case 'dense':
      kind = 'dense';
      break;
    case 'low-rank':
      kind = 'lowrank';
      break;
    case 'monarch':
      kind = 'monarch';
      break;
    case 'blast':
      kind = 'blast';
      break;
    default:
      throw new InvalidArgumentError(
        `structuredLinearFromMatrix: a '${matrix.kind}' matrix has no trainable layer (convert it to BLAST first)`,
      );
  }
  const factors: Record<string, tf.Variable> = {};
  for (const key of FACTOR_NAMES[kind]) {
    const t = named[key];
    if (!t) throw new ShapeError(`structuredLinearFromMatrix: ${matrix.kind} matrix lacks tensor '${key}'`);
    factors[key] = makeVariable(Float32Array.from(t.data), [...t.shape], options.name, key);
  }
  let bias: tf.Variable | null = null;
  if (options.bias) {
    if (options.bias.length !== m)
      throw new ShapeError(
        `structuredLinearFromMatrix: bias has ${options.bias.length} entries, expected ${m}`,
      );
    bias = makeVariable(Float32Array.from(options.bias), [m], options.name, 'bias');
  } else if (options.zeroBias) {
    bias = makeVariable(new Float32Array(m), [m], options.name, 'bias');
  }
  return new TfStructuredLinear(kind, n, m, factors, bias);
}

/**
 * Equal-parameter helper: the largest rank whose layer has at most `parameters` parameters (factors only,
 * no bias). lowrank r(m+n); blast r(m+n+b²); monarch b·r′(m+n) (returns r′). A dense layer has no rank: it
 * returns min(in, out) when in·out fits. Throws when not even rank 1 fits.
 */
export function rankForParameters(
  kind: StructuredKind,
  inFeatures: number,
  outFeatures: number,
  parameters: number,
  blocks?: number,
): number {
  checkKind('rankForParameters', kind);
  const n = checkPositiveInt('rankForParameters: inFeatures', inFeatures);
  const m = checkPositiveInt('rankForParameters: outFeatures', outFeatures);
  if (!Number.isFinite(parameters) || parameters <= 0)
    throw new InvalidArgumentError(`rankForParameters: parameters must be positive, got ${parameters}`);
  let perRank: number;
  if (kind === 'dense') {
    if (m * n > parameters)
      throw new InvalidArgumentError(
        `rankForParameters: a dense ${m}×${n} layer has ${m * n} parameters, more than ${parameters}`,
      );
    return Math.min(m, n);
  } else if (kind === 'lowrank') {
    perRank = m + n;
  } else {
    const b = checkPositiveInt(`rankForParameters: ${kind} blocks`, blocks);
    checkBlocks(`rankForParameters (${kind})`, m, n, b);
    perRank = kind === 'blast' ? m + n + b * b : b * (m + n);
  }
  const r = Math.floor(parameters / perRank);
  if (r < 1)
    throw new InvalidArgumentError(
      `rankForParameters: ${parameters} parameters are fewer than one rank of a ${kind} ${m}×${n} layer (${perRank})`,
    );
  return r;
}
