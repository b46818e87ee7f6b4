import type { Tensor } from '../tensor/tensor.js';
import type { ReduceOp, UnaryOp } from './kernel-names.js';

/** The version of the Backend interface this package defines. Bumped on any breaking change to it. */
export const BACKEND_SPECIFICATION_VERSION = 'v1' as const;

/**
 * A tensor that lives on a backend (host memory, a GPU buffer…). Only its shape is visible; read it back
 * with `backend.download`. A handle is only valid on the backend that made it.
 */
export interface BackendTensor {
  readonly shape: readonly number[];
  readonly dtype: 'float32';
}

export interface MatmulOptions {
  /** Use Aᵀ (the last two axes of A swapped). */
  transposeA?: boolean;
  /** Use Bᵀ (the last two axes of B swapped). */
  transposeB?: boolean;
}

export interface BlastForwardOptions {
  /** Apply Aᵀ instead of A: input [N, m], output [N, n]. */
  transpose?: boolean;
}

export interface RopeOptions {
  /** Base of the rotary frequencies (Llama: 10000). */
  theta: number;
  /** How many leading dims of each head rotate (default: all). */
  rotaryDim?: number;
  /**
   * true: rotate adjacent pairs (2i, 2i+1), as llama2.c and Meta's code do.
   * false (default): rotate (i, i + d/2), Hugging Face's `rotate_half`.
   */
  interleaved?: boolean;
  /** Multiplies positions before computing angles (linear RoPE scaling: 1/factor). Default 1. */
  positionScale?: number;
  /** Per-frequency inverse frequencies, overriding theta (for llama3-style scaled RoPE). Length rotaryDim/2. */
  invFrequencies?: Float32Array;
}

export interface AttentionOptions {
  /** Mask keys after the query's own position. */
  causal: boolean;
  /** Multiplies q·k (default 1/√headDim). */
  scale?: number;
  /** Absolute position of the first query (keys start at 0): queries see keys ≤ queryOffset + i when causal. */
  queryOffset?: number;
}

/**
 * What answered, in the same words on every backend: the CLI prints it in progress output and JSON, the bench
 * records it beside every figure, doctor lists it.
 */
export interface BackendDescription {
  /** The backend's name, as `--backend` takes it ('cpu', 'native', 'webgpu', 'tfjs', 'cuda'). */
  name: string;
  /** Where the arithmetic runs. A software GPU adapter is `device: 'gpu'` with `software: true`. */
  device: 'cpu' | 'gpu';
  /** The engine, library or adapter in one line, e.g. 'Eigen 3.4.0 (avx2+fma), 2 threads'. */
  engine: string;
  /**
   * true when a GPU API is served by a CPU rasterizer (Mesa llvmpipe/lavapipe, SwiftShader, WARP): it shows that
   * the kernels work, and its timings are not GPU figures.
   */
  software: boolean;
}

/** Result of a symmetric eigendecomposition: A = V diag(values) Vᵀ, values ascending, eigenvectors as columns. */
export interface EighResult {
  values: BackendTensor;
  vectors: BackendTensor;
}

/** Result of a truncated SVD: A ≈ U diag(S) Vᵀ with the k largest singular values, descending. */
export interface SvdResult {
  U: BackendTensor;
  S: BackendTensor;
  V: BackendTensor;
}

/**
 * The operations the rest of blastkit needs from a compute backend. Everything is float32 and row-major.
 * Operations enqueue work and return handles; `download` is the only point that waits for results.
 * A backend that lacks an operation throws NotImplementedOnBackendError for it. Backends are declared as data
 * (see kernel-table.ts): a kernel table names every operation, a gap is declared with `notImplemented(reason)`.
 */
export interface Backend {
  readonly specificationVersion: typeof BACKEND_SPECIFICATION_VERSION;
  /** Short name, e.g. 'cpu', 'webgpu', 'cuda'. */
  readonly name: string;
  /** What answered: device, engine or adapter, and whether a GPU API runs in software. */
  describe(): BackendDescription;

  // ---- memory -------------------------------------------------------------------------------------
  upload(tensor: Tensor): BackendTensor;
  download(tensor: BackendTensor): Promise<Tensor>;
  /** Frees the handle's memory; using it afterwards is an error. Safe to call twice. */
  dispose(tensor: BackendTensor): void;
  /** A handle with another shape of the same size; may share memory with the input. */
  reshape(tensor: BackendTensor, shape: readonly number[]): BackendTensor;
  /** Releases everything the backend holds (devices, pools). */
  close?(): void | Promise<void>;

  // ---- products -----------------------------------------------------------------------------------
  /** op(A)·op(B) for 2-D operands, or batched over a leading axis (3-D; a batch of 1 broadcasts). */
  matmul(a: BackendTensor, b: BackendTensor, options?: MatmulOptions): BackendTensor;
  /** x·Wᵀ (+ bias): x [N, n], weight [m, n], bias [m] → [N, m]. The dense layer. */
  linear(x: BackendTensor, weight: BackendTensor, bias?: BackendTensor): BackendTensor;
  /**
   * The BLAST layer y = A·x per row of x, A given by B [b, m/b, r], C [b, r, n/b], D [b, b, r]
   * (method.md §1): x [N, n] → [N, m]. Never builds the dense A.
   */
  blastForward(
    x: BackendTensor,
    B: BackendTensor,
    C: BackendTensor,
    D: BackendTensor,
    options?: BlastForwardOptions,
  ): BackendTensor;
  /** Low-rank A = U·Vᵀ: x [N, n], U [m, r], V [n, r] → x·V·Uᵀ [N, m]. */
  lowRankForward(x: BackendTensor, U: BackendTensor, V: BackendTensor): BackendTensor;
  /**
   * Monarch / block low-rank A = L·P·R: R [b, b·r′, n/b] (block-diagonal, block j maps x_j to b groups of r′),
   * then the group ↔ block permutation, then L [b, m/b, b·r′]. Block (i, j) of A is L_i[:, group j]·R_j[group i, :].
   */
  monarchForward(x: BackendTensor, L: BackendTensor, R: BackendTensor): BackendTensor;
  /** Block-diagonal A = diag(blocks_0, …): blocks [b, m/b, n/b], x [N, n] → [N, m]. */
  blockDiagonalForward(x: BackendTensor, blocks: BackendTensor): BackendTensor;

  // ---- elementwise (numpy broadcasting) --------------------------------------------------------------
  add(a: BackendTensor, b: BackendTensor): BackendTensor;
  sub(a: BackendTensor, b: BackendTensor): BackendTensor;
  mul(a: BackendTensor, b: BackendTensor): BackendTensor;
  /** a·alpha + beta. */
  scale(a: BackendTensor, alpha: number, beta?: number): BackendTensor;
  unary(x: BackendTensor, op: UnaryOp): BackendTensor;
  /** Softmax over the last axis. */
  softmax(x: BackendTensor): BackendTensor;
  /** x / rms(x) · weight over the last axis (Llama's RMSNorm). */
  rmsNorm(x: BackendTensor, weight: BackendTensor, eps: number): BackendTensor;
  /** (x − mean) / √(var + eps) · weight + bias over the last axis. */
  layerNorm(x: BackendTensor, weight: BackendTensor, bias: BackendTensor, eps: number): BackendTensor;
  /** Rotary embedding of x [N, heads, headDim] at the given absolute positions (length N). */
  rope(x: BackendTensor, positions: Int32Array, options: RopeOptions): BackendTensor;
  /** Rows of table [V, d] for the ids → [ids.length, d]. */
  embedding(table: BackendTensor, ids: Int32Array): BackendTensor;
  /**
   * Scaled dot-product attention with grouped-query heads: q [N, hq, d], k and v [S, hkv, d] (hq a multiple
   * of hkv; query head h reads kv head ⌊h·hkv/hq⌋) → [N, hq, d].
   */
  attention(q: BackendTensor, k: BackendTensor, v: BackendTensor, options: AttentionOptions): BackendTensor;

  // ---- layout ---------------------------------------------------------------------------------------
  /** Permutes axes (numpy.transpose). */
  transpose(x: BackendTensor, perm: readonly number[]): BackendTensor;
  /** x[begin₀:begin₀+size₀, …]; a size of -1 means "to the end". */
  slice(x: BackendTensor, begin: readonly number[], size: readonly number[]): BackendTensor;
  concat(xs: readonly BackendTensor[], axis: number): BackendTensor;

  // ---- reductions -----------------------------------------------------------------------------------
  /** Reduces over one axis (removed from the shape), or over everything when axis is omitted (shape []). */
  reduce(x: BackendTensor, op: ReduceOp, axis?: number): BackendTensor;
  /** Index of the largest entry along the last axis, as float32 values (first index on ties). */
  argmax(x: BackendTensor): BackendTensor;

  // ---- factorization --------------------------------------------------------------------------------
  /**
   * Solves A_k X_k = B_k for many small symmetric positive definite systems by Cholesky:
   * A [batch, r, r], B [batch, r, c] → X [batch, r, c]. Only the lower triangle of A is read.
   * Throws NotPositiveDefiniteError naming the system when a pivot is not positive.
   */
  choleskySolve(A: BackendTensor, B: BackendTensor): BackendTensor;
  /** Symmetric eigendecomposition of A [n, n] (lower triangle read), values ascending. */
  eigh(A: BackendTensor): EighResult;
  /** The k leading singular triplets of A [m, n]; each column of V has its largest-magnitude entry positive. */
  truncatedSvd(A: BackendTensor, k: number): SvdResult;
}
