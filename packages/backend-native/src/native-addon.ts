import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An open context of the addon (a thread pool, tensor buffers, a free-list pool); opaque here. */
export interface NativeContext {
  readonly __nativeContext: unique symbol;
}

/** A buffer id of one context (ids stay below 2^53). */
export type BufferId = number;

/** What the addon says about itself. */
export interface NativeInfo {
  /** The variant compiled: 'avx2', 'baseline', 'neon' or 'generic'. */
  variant: string;
  /** The Eigen version compiled in, e.g. '3.4.0'. */
  eigen: string;
  /** What this CPU has (x86 only; false elsewhere). */
  avx2: boolean;
  fma: boolean;
}

/** Native memory of one context, as the addon counts it. */
export interface NativeStats {
  /** Live tensor buffers. */
  tensors: number;
  /** Bytes of the live tensor buffers. */
  bytes: number;
  peakBytes: number;
  /** Freed buffers kept for reuse by exact size, and their bytes. */
  pooledBuffers: number;
  pooledBytes: number;
  /** Persistent scratch of the structured forwards and the worker threads (grown on demand). */
  scratchBytes: number;
  /** Buffers taken from the system rather than from the pool, so far. */
  allocations: number;
  threads: number;
}

/**
 * The functions of blastkit_native.<variant>.node (native/addon.cc). Every function that takes buffers checks
 * the element ranges it touches against the buffers' sizes and throws an Error naming the call when they do
 * not fit. Sizes and offsets are in float32 elements.
 */
export interface NativeAddon {
  info(): NativeInfo;
  open(threads: number): NativeContext;
  /** Frees every buffer and stops the threads. Safe twice. */
  close(ctx: NativeContext): void;
  stats(ctx: NativeContext): NativeStats;
  trimPool(ctx: NativeContext): void;
  alloc(ctx: NativeContext, bytes: number): BufferId;
  free(ctx: NativeContext, id: BufferId): void;
  write(ctx: NativeContext, id: BufferId, data: Float32Array): void;
  read(ctx: NativeContext, id: BufferId, count: number): Float32Array;
  /** [index, value] of the first NaN or ±Infinity among the first `count` values, or null. */
  firstNonFinite(ctx: NativeContext, id: BufferId, count: number): [number, number] | null;
  matmul(
    ctx: NativeContext,
    out: BufferId,
    a: BufferId,
    b: BufferId,
    batch: number,
    batchA: number,
    batchB: number,
    M: number,
    N: number,
    K: number,
    transposeA: boolean,
    transposeB: boolean,
  ): void;
  linear(
    ctx: NativeContext,
    out: BufferId,
    x: BufferId,
    weight: BufferId,
    bias: BufferId | null,
    N: number,
    m: number,
    n: number,
  ): void;
  /** mode 0: fused when N ≤ 8, else three passes; 1: fused (N ≤ 8); 2: three passes. */
  blast(
    ctx: NativeContext,
    out: BufferId,
    x: BufferId,
    B: BufferId,
    C: BufferId,
    D: BufferId,
    N: number,
    b: number,
    p: number,
    q: number,
    r: number,
    transpose: boolean,
    mode: 0 | 1 | 2,
  ): void;
  lowRank(
    ctx: NativeContext,
    out: BufferId,
    x: BufferId,
    U: BufferId,
    V: BufferId,
    N: number,
    m: number,
    n: number,
    r: number,
  ): void;
  monarch(
    ctx: NativeContext,
    out: BufferId,
    x: BufferId,
    L: BufferId,
    R: BufferId,
    N: number,
    b: number,
    p: number,
    q: number,
    br: number,
  ): void;
  blockDiagonal(
    ctx: NativeContext,
    out: BufferId,
    x: BufferId,
    blocks: BufferId,
    N: number,
    b: number,
    p: number,
    q: number,
  ): void;
  binary(
    ctx: NativeContext,
    op: number,
    out: BufferId,
    a: BufferId,
    b: BufferId,
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
  rope(
    ctx: NativeContext,
    out: BufferId,
    x: BufferId,
    N: number,
    heads: number,
    d: number,
    half: number,
    interleaved: boolean,
    positions: Int32Array,
    inv: Float64Array,
    positionScale: number,
  ): void;
  embedding(ctx: NativeContext, out: BufferId, table: BufferId, V: number, d: number, ids: Int32Array): void;
  attention(
    ctx: NativeContext,
    out: BufferId,
    q: BufferId,
    k: BufferId,
    v: BufferId,
    N: number,
    hq: number,
    S: number,
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
  choleskySolve(
    ctx: NativeContext,
    out: BufferId,
    A: BufferId,
    B: BufferId,
    batch: number,
    r: number,
    c: number,
  ): { system: number; pivot: number; value: number } | null;
  eigh(ctx: NativeContext, values: BufferId, vectors: BufferId, A: BufferId, n: number): void;
  truncatedSvd(
    ctx: NativeContext,
    U: BufferId,
    S: BufferId,
    V: BufferId,
    A: BufferId,
    m: number,
    n: number,
    k: number,
  ): void;
}

// src/*.ts and dist/*.js both sit one folder below the package root
const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** `<platform>-<arch>`, the folder name under prebuilds/. */
export const PLATFORM_TAG = `${process.platform}-${process.arch}`;

/** What scripts/build-native.mjs recorded about the last native build. */
export interface NativeBuildInfo {
  built: boolean;
  reason?: string;
  failed?: boolean;
  variants?: Record<string, { file: string; hash: string; flags: string }>;
  cxxVersion?: string;
  eigen?: string;
  seconds?: number;
  at?: string;
}

/** The record of the package build (dist/native/build-info.json), if there is one. */
export function readBuildInfo(): NativeBuildInfo | undefined {
  const path = join(PACKAGE_ROOT, 'dist', 'native', 'build-info.json');
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as NativeBuildInfo;
  } catch {
    return undefined;
  }
}

/** Whether this CPU has AVX2 and FMA, from /proc/cpuinfo (Linux); undefined where that cannot be read. */
function cpuFlagsSayAvx2Fma(): boolean | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const line = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
    if (line === undefined) return undefined;
    const flags = line.split(/\s+/);
    return flags.includes('avx2') && flags.includes('fma');
  } catch {
    return undefined;
  }
}

/** The addon files to try, best first: each variant this CPU runs, in dist/native then prebuilds/. */
export function addonCandidates(): { path: string; variant: string }[] {
  const dirs = [join(PACKAGE_ROOT, 'dist', 'native'), join(PACKAGE_ROOT, 'prebuilds', PLATFORM_TAG)];
  let variants: string[];
  if (process.arch === 'x64') variants = ['avx2', 'baseline'];
  else if (process.arch === 'arm64') variants = ['neon'];
  else variants = ['generic'];
  const out: { path: string; variant: string }[] = [];
  for (const variant of variants)
    for (const dir of dirs) out.push({ path: join(dir, `blastkit_native.${variant}.node`), variant });
  return out;
}

export type AddonLoad =
  | { ok: true; addon: NativeAddon; path: string; info: NativeInfo }
  | { ok: false; reason: string };

const loads = new Map<string, AddonLoad>();

function requireAddon(path: string): { addon?: NativeAddon; error?: string } {
  try {
    return { addon: createRequire(import.meta.url)(path) as NativeAddon };
  } catch (err) {
    return { error: err instanceof Error ? err.message.split('\n')[0] : String(err) };
  }
}

function load(): AddonLoad {
  const switchValue = process.env.BLASTKIT_NATIVE;
  if (switchValue && /^(off|0|false|no)$/i.test(switchValue)) {
    return { ok: false, reason: `turned off by BLASTKIT_NATIVE=${switchValue}` };
  }
  const forced = process.env.BLASTKIT_NATIVE_ADDON;
  if (forced) {
    if (!existsSync(forced)) return { ok: false, reason: `BLASTKIT_NATIVE_ADDON=${forced} does not exist` };
    const r = requireAddon(forced);
    if (!r.addon) return { ok: false, reason: `native addon failed to load: ${r.error}` };
    return { ok: true, addon: r.addon, path: forced, info: r.addon.info() };
  }
  const candidates = addonCandidates().filter((c) => existsSync(c.path));
  if (candidates.length === 0) {
    const info = readBuildInfo();
    const why =
      info && !info.built && info.reason
        ? info.reason
        : `no blastkit_native.*.node for ${PLATFORM_TAG} in dist/native or prebuilds/${PLATFORM_TAG} (run the package's build: pnpm --filter @blastkit/backend-native build)`;
    return { ok: false, reason: `no native build: ${why}` };
  }
  // an AVX2 build on a CPU without AVX2 would die on an illegal instruction: only load it when the CPU has it.
  // /proc/cpuinfo answers on Linux; elsewhere a baseline build answers through its cpuid export
  let avx2Fma = cpuFlagsSayAvx2Fma();
  const errors: string[] = [];
  for (const c of candidates) {
    if (c.variant === 'avx2' && avx2Fma === undefined) {
      const base = candidates.find((b) => b.variant === 'baseline');
      const probe = base ? requireAddon(base.path).addon?.info() : undefined;
      avx2Fma = probe ? probe.avx2 && probe.fma : false;
    }
    if (c.variant === 'avx2' && !avx2Fma) continue;
    const r = requireAddon(c.path);
    if (r.addon) return { ok: true, addon: r.addon, path: c.path, info: r.addon.info() };
    errors.push(`${c.path}: ${r.error}`);
  }
  if (errors.length === 0) {
    return {
      ok: false,
      reason: `no native build for this CPU: only an AVX2+FMA build was found and this CPU lacks AVX2 or FMA`,
    };
  }
  return { ok: false, reason: `native addon failed to load: ${errors.join('; ')}` };
}

/**
 * Loads the best addon for this CPU, once per setting of BLASTKIT_NATIVE / BLASTKIT_NATIVE_ADDON. A missing or
 * broken file is reported, not thrown.
 */
export function loadAddon(): AddonLoad {
  const key = `${process.env.BLASTKIT_NATIVE ?? ''}\0${process.env.BLASTKIT_NATIVE_ADDON ?? ''}`;
  let result = loads.get(key);
  if (!result) {
    result = load();
    loads.set(key, result);
  }
  return result;
}
