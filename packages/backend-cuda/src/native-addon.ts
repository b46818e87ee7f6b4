import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An open device context of the addon (a CUDA stream and a cuBLAS handle on one device); opaque here. */
export interface NativeContext {
  readonly __nativeContext: unique symbol;
}

/** What the addon's probe() reports; never thrown for a missing driver or device. */
export interface NativeProbe {
  available: boolean;
  /** Where it stopped: the driver, the device, cuBLAS. */
  stage?: 'driver' | 'device' | 'cublas';
  reason?: string;
  /** e.g. "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)". */
  device?: string;
  deviceCount?: number;
  computeCapability?: number;
  driverVersion?: number;
  runtimeVersion?: number;
  /** The cuBLAS file that answered and its version, e.g. "libcublas.so.13 13.0.2". */
  cublas?: string;
  /** The GPU code compiled in, e.g. "sm_80 sm_90 compute_90". */
  archs?: string;
}

/** Live device memory of one context, as counted by the addon. */
export interface NativeStats {
  /** Buffers allocated for tensors and not yet freed. */
  buffers: number;
  bytes: number;
  peakBytes: number;
  /** Persistent scratch (grown on demand, freed on close), counted apart from tensors. */
  scratchBuffers: number;
  scratchBytes: number;
  /** cudaMalloc / cudaFree calls so far. */
  mallocs: number;
  frees: number;
}

/** cuBLAS data types of GEMM inputs (library_types.h). */
export const DTYPE_F32 = 0;
export const DTYPE_F16 = 2;
export const DTYPE_BF16 = 14;
export type GemmDtype = typeof DTYPE_F32 | typeof DTYPE_F16 | typeof DTYPE_BF16;

/** A buffer id of one context (a number: ids stay below 2^53). */
export type BufferId = number;

/**
 * The functions of blastkit_cuda.node (native/addon.cc). Every function that takes buffers checks the
 * element ranges it touches against the buffers' sizes and throws an Error naming the call when they do not
 * fit. Sizes, offsets and strides are in elements (float32 unless stated).
 */
export interface NativeAddon {
  /** The GPU code compiled in. */
  readonly archs: string;
  probe(device?: number): NativeProbe;
  open(device: number, tf32: boolean): NativeContext;
  /** Waits for the stream, frees every buffer, destroys the cuBLAS handle and the stream. Safe twice. */
  close(ctx: NativeContext): void;
  stats(ctx: NativeContext): NativeStats;
  alloc(ctx: NativeContext, bytes: number): BufferId;
  free(ctx: NativeContext, id: BufferId): void;
  /** A persistent scratch buffer of slot 0–2 holding at least `bytes` (reused across operations). */
  scratch(ctx: NativeContext, slot: number, bytes: number): BufferId;
  /** Host → device at a byte offset; returns once the data is on the device. */
  write(ctx: NativeContext, id: BufferId, byteOffset: number, data: ArrayBufferView): void;
  /** Device → host after all queued work. */
  read(ctx: NativeContext, id: BufferId, offset: number, count: number): Float32Array;
  copy(
    ctx: NativeContext,
    dst: BufferId,
    dstOffset: number,
    src: BufferId,
    srcOffset: number,
    count: number,
  ): void;
  synchronize(ctx: NativeContext): void;
  /**
   * cublasGemmStridedBatchedEx with alpha = 1, column-major, verbatim: C_i = op(A_i)·op(B_i) + β·C_i with op(A)
   * m×k and op(B) k×n; A and B of `dtype` (offsets and strides in its elements), C float32.
   */
  gemm(
    ctx: NativeContext,
    dtype: GemmDtype,
    opA: 0 | 1,
    opB: 0 | 1,
    m: number,
    n: number,
    k: number,
    a: BufferId,
    aOffset: number,
    lda: number,
    strideA: number,
    b: BufferId,
    bOffset: number,
    ldb: number,
    strideB: number,
    c: BufferId,
    cOffset: number,
    ldc: number,
    strideC: number,
    batch: number,
    beta: number,
  ): void;
  addBias(ctx: NativeContext, y: BufferId, bias: BufferId, rows: number, cols: number): void;
  blastMix(
    ctx: NativeContext,
    z: BufferId,
    d: BufferId,
    w: BufferId,
    b: number,
    n: number,
    r: number,
    transpose: boolean,
  ): void;
  binary(
    ctx: NativeContext,
    op: number,
    out: BufferId,
    a: BufferId,
    aOffset: number,
    b: BufferId,
    bOffset: number,
    dims: number[],
    stridesA: number[],
    stridesB: number[],
  ): void;
  scale(ctx: NativeContext, out: BufferId, a: BufferId, count: number, alpha: number, beta: number): void;
  unary(ctx: NativeContext, op: number, out: BufferId, x: BufferId, count: number): void;
  softmax(ctx: NativeContext, out: BufferId, x: BufferId, rows: number, width: number): void;
  rmsNorm(
    ctx: NativeContext,
    out: BufferId,
    x: BufferId,
    weight: BufferId,
    rows: number,
    width: number,
    eps: number,
  ): void;
  layerNorm(
    ctx: NativeContext,
    out: BufferId,
    x: BufferId,
    weight: BufferId,
    bias: BufferId,
    rows: number,
    width: number,
    eps: number,
  ): void;
  /** `table`: cos [n][halfDim] then sin [n][halfDim]. */
  rope(
    ctx: NativeContext,
    out: BufferId,
    x: BufferId,
    n: number,
    heads: number,
    headDim: number,
    halfDim: number,
    interleaved: boolean,
    table: Float32Array,
  ): void;
  embedding(
    ctx: NativeContext,
    out: BufferId,
    table: BufferId,
    vocab: number,
    d: number,
    ids: Int32Array,
  ): void;
  attention(
    ctx: NativeContext,
    out: BufferId,
    q: BufferId,
    k: BufferId,
    v: BufferId,
    n: number,
    hq: number,
    s: number,
    hkv: number,
    d: number,
    causal: boolean,
    scale: number,
    queryOffset: number,
  ): void;
  stridedCopy(
    ctx: NativeContext,
    dst: BufferId,
    dstOffset: number,
    src: BufferId,
    srcOffset: number,
    dims: number[],
    srcStrides: number[],
    dstStrides: number[],
  ): void;
  reduce(
    ctx: NativeContext,
    op: number,
    out: BufferId,
    x: BufferId,
    outer: number,
    len: number,
    inner: number,
  ): void;
  argmax(ctx: NativeContext, out: BufferId, x: BufferId, rows: number, width: number): void;
  castHalf(ctx: NativeContext, dtype: GemmDtype, dst: BufferId, src: BufferId, count: number): void;
}

/** Axes the layout and broadcasting kernels take (kMaxRank in native/kernels.h). */
export const MAX_RANK = 8;

// src/*.ts and dist/*.js both sit one folder below the package root
const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Where the build puts the addon (BLASTKIT_CUDA_ADDON overrides it). */
export function addonPath(): string {
  return process.env.BLASTKIT_CUDA_ADDON ?? join(PACKAGE_ROOT, 'dist', 'native', 'blastkit_cuda.node');
}

/** What scripts/build-native.mjs recorded about the last native build. */
export interface NativeBuildInfo {
  built: boolean;
  reason?: string;
  failed?: boolean;
  nvccVersion?: string;
  archs?: string;
  at?: string;
}

/** The native build's record, if there is one. */
export function readBuildInfo(): NativeBuildInfo | undefined {
  const path = join(PACKAGE_ROOT, 'dist', 'native', 'build-info.json');
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as NativeBuildInfo;
  } catch {
    return undefined;
  }
}

export type AddonLoad = { ok: true; addon: NativeAddon } | { ok: false; reason: string };

let loaded: AddonLoad | undefined;

/**
 * Loads blastkit_cuda.node once per process. Loading needs no GPU and no driver (the CUDA runtime is linked
 * statically and opens libcuda.so.1 when first called); a missing or broken file is reported, not thrown.
 */
export function loadAddon(): AddonLoad {
  if (loaded) return loaded;
  const path = addonPath();
  if (!existsSync(path)) {
    const info = readBuildInfo();
    const why =
      info && !info.built && info.reason
        ? info.reason
        : `${path} does not exist (run the package's build: pnpm --filter @blastkit/backend-cuda build)`;
    loaded = { ok: false, reason: `no native build: ${why}` };
    return loaded;
  }
  try {
    const addon = createRequire(import.meta.url)(path) as NativeAddon;
    loaded = { ok: true, addon };
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    loaded = { ok: false, reason: `native addon failed to load: ${why}` };
  }
  return loaded;
}
