import {
  bf16BitsToF32,
  cpuKernels,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  Tensor,
  UNARY_OPS,
} from '@blastkit/core';
import type {
  BufferId,
  GemmDtype,
  NativeAddon,
  NativeContext,
  NativeProbe,
  NativeStats,
} from '../../src/native-addon.js';

/**
 * A host-memory stand-in for blastkit_cuda.node with the same contract as native/addon.cc: buffer ids, byte
 * ranges checked against buffer sizes, cuBLAS's column-major GEMM taken literally (op, m, n, k, leading
 * dimensions, batch strides), and each kernel's semantics as the CUDA code defines them. It lets the
 * JavaScript half of the backend (shape checks, the row-major → column-major GEMM mapping, strides and
 * offsets of every call, scratch use, disposal) run the conformance suite on a machine without a GPU. It
 * says nothing about the CUDA kernels themselves.
 */

interface Buffer {
  data: ArrayBuffer;
  scratch: boolean;
}

interface Context {
  open: boolean;
  buffers: Map<number, Buffer>;
  nextId: number;
  scratch: number[];
  stats: NativeStats;
}

const AUX_SLOT = 3;

function fail(message: string): never {
  throw new Error(message);
}

function ctxOf(c: NativeContext, fn: string): Context {
  const ctx = c as unknown as Context;
  if (!ctx || !(ctx.buffers instanceof Map)) fail(`${fn}: the first argument is not a context of this addon`);
  if (!ctx.open) fail(`${fn}: the backend is closed`);
  return ctx;
}

function checkInt(fn: string, name: string, v: number, lo = 0): number {
  if (!Number.isInteger(v) || v < lo || v > Number.MAX_SAFE_INTEGER)
    fail(`${fn}: ${name} = ${v} must be an integer ≥ ${lo}`);
  return v;
}

function bytes(ctx: Context, id: BufferId, offset: number, count: number, what: string): Uint8Array {
  const buf =
    ctx.buffers.get(id) ?? fail(`${what}: buffer #${id} does not exist (freed, or from another context)`);
  if (offset < 0 || count < 0 || offset + count > buf.data.byteLength) {
    fail(
      `${what}: bytes [${offset}, ${offset + count}) lie outside buffer #${id} of ${buf.data.byteLength} bytes`,
    );
  }
  return new Uint8Array(buf.data, offset, count);
}

function floats(ctx: Context, id: BufferId, offset: number, count: number, what: string): Float32Array {
  const b = bytes(ctx, id, offset * 4, count * 4, what);
  return new Float32Array(b.buffer, b.byteOffset, count);
}

function halves(ctx: Context, id: BufferId, offset: number, count: number, what: string): Uint16Array {
  const b = bytes(ctx, id, offset * 2, count * 2, what);
  return new Uint16Array(b.buffer, b.byteOffset, count);
}

function extent(dims: number[], strides: number[]): number {
  if (dims.some((d) => d === 0)) return 0;
  return 1 + dims.reduce((acc, d, i) => acc + (d - 1) * strides[i], 0);
}

function product(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Visits every index of `dims` in row-major order with the offsets of two strided operands. */
function walk(
  dims: number[],
  sa: number[],
  sb: number[],
  visit: (e: number, oa: number, ob: number) => void,
) {
  const count = product(dims);
  for (let e = 0; e < count; e++) {
    let rem = e;
    let oa = 0;
    let ob = 0;
    for (let axis = dims.length - 1; axis >= 0; axis--) {
      const idx = rem % dims[axis];
      rem = Math.floor(rem / dims[axis]);
      oa += idx * sa[axis];
      ob += idx * sb[axis];
    }
    visit(e, oa, ob);
  }
}

function allocBuffer(ctx: Context, size: number, scratch: boolean): number {
  const id = ctx.nextId++;
  ctx.buffers.set(id, { data: new ArrayBuffer(size), scratch });
  if (size > 0) ctx.stats.mallocs++;
  if (scratch) {
    ctx.stats.scratchBuffers++;
    ctx.stats.scratchBytes += size;
  } else {
    ctx.stats.buffers++;
    ctx.stats.bytes += size;
    ctx.stats.peakBytes = Math.max(ctx.stats.peakBytes, ctx.stats.bytes);
  }
  return id;
}

function freeBuffer(ctx: Context, id: number, what: string): void {
  const buf = ctx.buffers.get(id) ?? fail(`${what}: buffer #${id} does not exist`);
  ctx.buffers.delete(id);
  if (buf.data.byteLength > 0) ctx.stats.frees++;
  if (buf.scratch) {
    ctx.stats.scratchBuffers--;
    ctx.stats.scratchBytes -= buf.data.byteLength;
  } else {
    ctx.stats.buffers--;
    ctx.stats.bytes -= buf.data.byteLength;
  }
}

function scratchBuffer(ctx: Context, slot: number, size: number): number {
  const current = ctx.scratch[slot];
  if (current) {
    const buf = ctx.buffers.get(current);
    if (buf && buf.data.byteLength >= size) return current;
    ctx.scratch[slot] = 0;
    if (buf) freeBuffer(ctx, current, 'scratch');
  }
  let rounded = 256;
  while (rounded < size) rounded *= 2;
  ctx.scratch[slot] = allocBuffer(ctx, rounded, true);
  return ctx.scratch[slot];
}

/** The emulated addon; every call is synchronous and exact to float32 rounding of double arithmetic. */
export function emulatedAddon(): NativeAddon {
  const addon: NativeAddon = {
    archs: 'host emulation',
    probe(): NativeProbe {
      return { available: true, device: 'host emulation of blastkit_cuda.node', archs: 'host emulation' };
    },
    open(device: number, _tf32: boolean): NativeContext {
      checkInt('open', 'device', device);
      const ctx: Context = {
        open: true,
        buffers: new Map(),
        nextId: 1,
        scratch: [0, 0, 0, 0],
        stats: {
          buffers: 0,
          bytes: 0,
          peakBytes: 0,
          scratchBuffers: 0,
          scratchBytes: 0,
          mallocs: 0,
          frees: 0,
        },
      };
      return ctx as unknown as NativeContext;
    },
    close(c) {
      const ctx = c as unknown as Context;
      if (!ctx.open) return;
      ctx.open = false;
      ctx.buffers.clear();
      Object.assign(ctx.stats, { buffers: 0, bytes: 0, scratchBuffers: 0, scratchBytes: 0 });
    },
    stats(c) {
      return { ...ctxOf(c, 'stats').stats };
    },
    alloc(c, size) {
      return allocBuffer(ctxOf(c, 'alloc'), checkInt('alloc', 'bytes', size), false);
    },
    free(c, id) {
      const ctx = ctxOf(c, 'free');
      if (ctx.buffers.get(id)?.scratch) fail(`free: buffer #${id} is scratch`);
      freeBuffer(ctx, id, 'free');
    },
    scratch(c, slot, size) {
      if (!Number.isInteger(slot) || slot < 0 || slot > 2) fail(`scratch: slot ${slot} out of range`);
      return scratchBuffer(ctxOf(c, 'scratch'), slot, checkInt('scratch', 'bytes', size));
    },
    write(c, id, byteOffset, data) {
      const ctx = ctxOf(c, 'write');
      const src = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      bytes(ctx, id, byteOffset, src.length, 'write').set(src);
    },
    read(c, id, offset, count) {
      return floats(ctxOf(c, 'read'), id, offset, count, 'read').slice();
    },
    copy(c, dst, dstOffset, src, srcOffset, count) {
      const ctx = ctxOf(c, 'copy');
      const from = floats(ctx, src, srcOffset, count, 'copy source').slice();
      floats(ctx, dst, dstOffset, count, 'copy destination').set(from);
    },
    synchronize(c) {
      ctxOf(c, 'synchronize');
    },
    gemm(
      c,
      dtype: GemmDtype,
      opA,
      opB,
      m,
      n,
      k,
      a,
      aOff,
      lda,
      sA,
      b,
      bOff,
      ldb,
      sB,
      cId,
      cOff,
      ldc,
      sC,
      batch,
      beta,
    ) {
      const fn = 'gemm';
      const ctx = ctxOf(c, fn);
      for (const [name, v] of Object.entries({ m, n, k, aOff, sA, bOff, sB, cOff, sC, batch }))
        checkInt(fn, name, v);
      for (const [name, v] of Object.entries({ lda, ldb, ldc })) checkInt(fn, name, v, 1);
      const rowsA = opA === 0 ? m : k;
      const colsA = opA === 0 ? k : m;
      const rowsB = opB === 0 ? k : n;
      const colsB = opB === 0 ? n : k;
      if (lda < rowsA || ldb < rowsB || ldc < m) fail(`${fn}: leading dimensions below the rows`);
      if (m === 0 || n === 0 || batch === 0) return;
      const reach = (st: number, rows: number, cols: number, ld: number) =>
        rows === 0 || cols === 0 ? 0 : (batch - 1) * st + (cols - 1) * ld + rows;
      const readOperand = (id: number, off: number, count: number, what: string): ArrayLike<number> => {
        if (dtype === 0) return floats(ctx, id, off, count, what);
        const h = halves(ctx, id, off, count, what);
        return Array.from(h, dtype === 2 ? f16BitsToF32 : bf16BitsToF32);
      };
      const A = readOperand(a, aOff, reach(sA, rowsA, colsA, lda), `${fn} A`);
      const B = readOperand(b, bOff, reach(sB, rowsB, colsB, ldb), `${fn} B`);
      const C = floats(ctx, cId, cOff, reach(sC, m, n, ldc), `${fn} C`);
      if (batch > 1) {
        const consecutive = sC >= ldc * (n - 1) + m;
        const sideBySide = sC >= m && (batch - 1) * sC + m <= ldc;
        if (!consecutive && !sideBySide) fail(`${fn}: the ${batch} output matrices overlap`);
      }
      for (let t = 0; t < batch; t++) {
        for (let j = 0; j < n; j++) {
          for (let i = 0; i < m; i++) {
            let sum = 0;
            for (let p = 0; p < k; p++) {
              const av = opA === 0 ? A[t * sA + p * lda + i] : A[t * sA + i * lda + p];
              const bv = opB === 0 ? B[t * sB + j * ldb + p] : B[t * sB + p * ldb + j];
              sum += av * bv;
            }
            const at = t * sC + j * ldc + i;
            C[at] = beta === 0 ? sum : sum + beta * C[at];
          }
        }
      }
    },
    addBias(c, y, bias, rows, cols) {
      const ctx = ctxOf(c, 'addBias');
      const Y = floats(ctx, y, 0, rows * cols, 'addBias y');
      const b = floats(ctx, bias, 0, cols, 'addBias bias');
      for (let e = 0; e < rows * cols; e++) Y[e] += b[e % cols];
    },
    blastMix(c, z, d, w, b, n, r, transpose) {
      const ctx = ctxOf(c, 'blastMix');
      const Z = floats(ctx, z, 0, b * n * r, 'blastMix Z');
      const D = floats(ctx, d, 0, b * b * r, 'blastMix D');
      const W = floats(ctx, w, 0, b * n * r, 'blastMix W');
      const nr = n * r;
      for (let e = 0; e < nr; e++) {
        const k = e % r;
        for (let i = 0; i < b; i++) {
          let acc = 0;
          for (let j = 0; j < b; j++) acc += D[(transpose ? j * b + i : i * b + j) * r + k] * Z[j * nr + e];
          W[i * nr + e] = acc;
        }
      }
    },
    binary(c, op, out, a, aOff, b, bOff, dims, sa, sb) {
      const ctx = ctxOf(c, 'binary');
      if (dims.length > 8) fail('binary: rank exceeds 8');
      const O = floats(ctx, out, 0, product(dims), 'binary out');
      const A = floats(ctx, a, aOff, extent(dims, sa), 'binary a');
      const B = floats(ctx, b, bOff, extent(dims, sb), 'binary b');
      walk(dims, sa, sb, (e, oa, ob) => {
        O[e] = op === 0 ? A[oa] + B[ob] : op === 1 ? A[oa] - B[ob] : A[oa] * B[ob];
      });
    },
    scale(c, out, a, count, alpha, beta) {
      const ctx = ctxOf(c, 'scale');
      const O = floats(ctx, out, 0, count, 'scale out');
      const A = floats(ctx, a, 0, count, 'scale a');
      for (let e = 0; e < count; e++) O[e] = A[e] * alpha + beta;
    },
    unary(c, op, out, x, count) {
      const ctx = ctxOf(c, 'unary');
      const name = UNARY_OPS[op] ?? fail(`unary: unknown op code ${op}`);
      const X = floats(ctx, x, 0, count, 'unary x');
      const result = cpuKernels.unary(new Tensor([count], X.slice()), name);
      floats(ctx, out, 0, count, 'unary out').set(result.data);
    },
    softmax(c, out, x, rows, width) {
      const ctx = ctxOf(c, 'softmax');
      const O = floats(ctx, out, 0, rows * width, 'softmax out');
      const X = floats(ctx, x, 0, rows * width, 'softmax x');
      for (let r = 0; r < rows; r++) {
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < width; j++) if (X[r * width + j] > max) max = X[r * width + j];
        let sum = 0;
        for (let j = 0; j < width; j++) sum += Math.exp(X[r * width + j] - max);
        for (let j = 0; j < width; j++) O[r * width + j] = Math.exp(X[r * width + j] - max) / sum;
      }
    },
    rmsNorm(c, out, x, weight, rows, width, eps) {
      const ctx = ctxOf(c, 'rmsNorm');
      const O = floats(ctx, out, 0, rows * width, 'rmsNorm out');
      const X = floats(ctx, x, 0, rows * width, 'rmsNorm x');
      const w = floats(ctx, weight, 0, width, 'rmsNorm weight');
      for (let r = 0; r < rows; r++) {
        let ss = 0;
        for (let j = 0; j < width; j++) ss += X[r * width + j] ** 2;
        const inv = 1 / Math.sqrt(ss / width + eps);
        for (let j = 0; j < width; j++) O[r * width + j] = X[r * width + j] * inv * w[j];
      }
    },
    layerNorm(c, out, x, weight, bias, rows, width, eps) {
      const ctx = ctxOf(c, 'layerNorm');
      const O = floats(ctx, out, 0, rows * width, 'layerNorm out');
      const X = floats(ctx, x, 0, rows * width, 'layerNorm x');
      const w = floats(ctx, weight, 0, width, 'layerNorm weight');
      const bb = floats(ctx, bias, 0, width, 'layerNorm bias');
      for (let r = 0; r < rows; r++) {
        let mean = 0;
        for (let j = 0; j < width; j++) mean += X[r * width + j];
        mean /= width;
        let v = 0;
        for (let j = 0; j < width; j++) v += (X[r * width + j] - mean) ** 2;
        const inv = 1 / Math.sqrt(v / width + eps);
        for (let j = 0; j < width; j++) O[r * width + j] = (X[r * width + j] - mean) * inv * w[j] + bb[j];
      }
    },
    rope(c, out, x, n, heads, headDim, halfDim, interleaved, table) {
      const ctx = ctxOf(c, 'rope');
      if (2 * halfDim > headDim) fail('rope: 2·halfDim exceeds headDim');
      if (!(table instanceof Float32Array) || table.length !== 2 * n * halfDim) fail('rope: table size');
      const count = n * heads * headDim;
      const O = floats(ctx, out, 0, count, 'rope out');
      const X = floats(ctx, x, 0, count, 'rope x');
      O.set(X);
      if (count === 0 || halfDim === 0) return;
      // the addon stages the table in its aux scratch buffer: account for it the same way
      scratchBuffer(ctx, AUX_SLOT, table.length * 4);
      for (let e = 0; e < n * heads * halfDim; e++) {
        const i = e % halfDim;
        const row = Math.floor(e / halfDim);
        const t = Math.floor(row / heads);
        const base = row * headDim;
        const ia = interleaved ? base + 2 * i : base + i;
        const ib = interleaved ? ia + 1 : ia + halfDim;
        const cs = table[t * halfDim + i];
        const sn = table[n * halfDim + t * halfDim + i];
        const x0 = X[ia];
        const x1 = X[ib];
        O[ia] = x0 * cs - x1 * sn;
        O[ib] = x1 * cs + x0 * sn;
      }
    },
    embedding(c, out, table, vocab, d, ids) {
      const ctx = ctxOf(c, 'embedding');
      if (!(ids instanceof Int32Array)) fail('embedding: ids must be an Int32Array');
      ids.forEach((id, t) => {
        if (id < 0 || id >= vocab)
          fail(`embedding: id ${id} at position ${t} is outside the vocabulary [0, ${vocab})`);
      });
      const O = floats(ctx, out, 0, ids.length * d, 'embedding out');
      const T = floats(ctx, table, 0, vocab * d, 'embedding table');
      if (ids.length * d === 0) return;
      scratchBuffer(ctx, AUX_SLOT, ids.length * 4);
      for (let e = 0; e < ids.length * d; e++) O[e] = T[ids[Math.floor(e / d)] * d + (e % d)];
    },
    attention(c, out, q, k, v, n, hq, s, hkv, d, causal, scale, queryOffset) {
      const ctx = ctxOf(c, 'attention');
      if (hkv < 1 || hq % hkv !== 0) fail('attention: query heads must be a multiple of key/value heads');
      const O = floats(ctx, out, 0, n * hq * d, 'attention out');
      const Q = floats(ctx, q, 0, n * hq * d, 'attention q');
      const K = floats(ctx, k, 0, s * hkv * d, 'attention k');
      const V = floats(ctx, v, 0, s * hkv * d, 'attention v');
      const group = hq / hkv;
      for (let t = 0; t < n; t++) {
        const visible = Math.max(0, causal ? Math.min(s, queryOffset + t + 1) : s);
        for (let h = 0; h < hq; h++) {
          const kvh = Math.floor(h / group);
          const scores = new Float64Array(visible);
          let max = Number.NEGATIVE_INFINITY;
          for (let j = 0; j < visible; j++) {
            let dot = 0;
            for (let cc = 0; cc < d; cc++) dot += Q[(t * hq + h) * d + cc] * K[(j * hkv + kvh) * d + cc];
            scores[j] = dot * scale;
            if (scores[j] > max) max = scores[j];
          }
          let sum = 0;
          for (let j = 0; j < visible; j++) sum += scores[j] = Math.exp(scores[j] - max);
          for (let cc = 0; cc < d; cc++) {
            let acc = 0;
            for (let j = 0; j < visible; j++) acc += scores[j] * V[(j * hkv + kvh) * d + cc];
            O[(t * hq + h) * d + cc] = visible > 0 ? acc / sum : 0;
          }
        }
      }
    },
    stridedCopy(c, dst, dstOffset, src, srcOffset, dims, srcStrides, dstStrides) {
      const ctx = ctxOf(c, 'stridedCopy');
      if (dims.length > 8) fail('stridedCopy: rank exceeds 8');
      const D = floats(ctx, dst, dstOffset, extent(dims, dstStrides), 'stridedCopy dst');
      const S = floats(ctx, src, srcOffset, extent(dims, srcStrides), 'stridedCopy src').slice();
      walk(dims, srcStrides, dstStrides, (_e, so, dof) => {
        D[dof] = S[so];
      });
    },
    reduce(c, op, out, x, outer, len, inner) {
      const ctx = ctxOf(c, 'reduce');
      if (len === 0 && (op === 2 || op === 3)) fail('reduce: max/min of an empty axis');
      const O = floats(ctx, out, 0, outer * inner, 'reduce out');
      const X = floats(ctx, x, 0, outer * len * inner, 'reduce x');
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < inner; i++) {
          let acc = op === 2 ? Number.NEGATIVE_INFINITY : op === 3 ? Number.POSITIVE_INFINITY : 0;
          for (let j = 0; j < len; j++) {
            const v = X[(o * len + j) * inner + i];
            acc =
              op === 2 ? Math.max(acc, v) : op === 3 ? Math.min(acc, v) : op === 4 ? acc + v * v : acc + v;
          }
          O[o * inner + i] = op === 1 ? acc / len : acc;
        }
      }
    },
    argmax(c, out, x, rows, width) {
      const ctx = ctxOf(c, 'argmax');
      if (width === 0 && rows > 0) fail('argmax: empty last axis');
      const O = floats(ctx, out, 0, rows, 'argmax out');
      const X = floats(ctx, x, 0, rows * width, 'argmax x');
      for (let r = 0; r < rows; r++) {
        let best = 0;
        for (let j = 1; j < width; j++) if (X[r * width + j] > X[r * width + best]) best = j;
        O[r] = best;
      }
    },
    castHalf(c, dtype, dst, src, count) {
      const ctx = ctxOf(c, 'castHalf');
      if (dtype !== 2 && dtype !== 14) fail('castHalf: dtype must be 2 (f16) or 14 (bf16)');
      const D = halves(ctx, dst, 0, count, 'castHalf dst');
      const S = floats(ctx, src, 0, count, 'castHalf src');
      for (let e = 0; e < count; e++) D[e] = dtype === 2 ? f32ToF16Bits(S[e]) : f32ToBf16Bits(S[e]);
    },
  };
  return addon;
}
