// blastkit's own kernels: the small-row products of decode (smallNT/smallNN), the BLAST forward (fused for
// N ≤ 8, three passes otherwise), Monarch's permutation, attention, RoPE, the norms and the elementwise,
// layout and reduction kernels. Vector code uses GCC/Clang vector extensions, so the same source gives AVX2+FMA,
// SSE or NEON code depending on the variant's flags.
//
// Accuracy follows the CPU reference: where it computes in float64 (norms, softmax, reductions, RoPE, the
// elementwise functions) so do these; products accumulate in float32 as GEMMs do.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common.h"

namespace bk {
namespace {

typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), __may_alias__));

inline v8 load8(const float* p) { return *reinterpret_cast<const v8u*>(p); }
inline void store8(float* p, v8 v) { *reinterpret_cast<v8u*>(p) = v; }
inline v8 splat(float a) { return v8{a, a, a, a, a, a, a, a}; }
inline float hsum(v8 v) {
  return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

// Σ a[i]·b[i] in float32 with vector partial sums (a fixed order: deterministic).
float dot(const float* a, const float* b, int64_t n) {
  v8 acc0 = splat(0), acc1 = splat(0);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 += load8(a + i) * load8(b + i);
    acc1 += load8(a + i + 8) * load8(b + i + 8);
  }
  for (; i + 8 <= n; i += 8) acc0 += load8(a + i) * load8(b + i);
  float s = hsum(acc0 + acc1);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// y[i] += a·x[i] in float32.
void axpy(float* y, float a, const float* x, int64_t n) {
  const v8 av = splat(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) store8(y + i, load8(y + i) + av * load8(x + i));
  for (; i < n; ++i) y[i] += a * x[i];
}

// One row w of W against MM rows of x: out[t·ldy] (+)= x_t·w.
template <int MM>
void ntRow(int64_t K, const float* x, int64_t ldx, const float* w, float* out, int64_t ldy, bool accumulate) {
  v8 acc0[MM], acc1[MM];
  for (int t = 0; t < MM; ++t) acc0[t] = acc1[t] = splat(0);
  int64_t k = 0;
  if (MM <= 4) {
    for (; k + 16 <= K; k += 16) {
      const v8 w0 = load8(w + k), w1 = load8(w + k + 8);
      for (int t = 0; t < MM; ++t) {
        acc0[t] += load8(x + t * ldx + k) * w0;
        acc1[t] += load8(x + t * ldx + k + 8) * w1;
      }
    }
  }
  for (; k + 8 <= K; k += 8) {
    const v8 w0 = load8(w + k);
    for (int t = 0; t < MM; ++t) acc0[t] += load8(x + t * ldx + k) * w0;
  }
  for (int t = 0; t < MM; ++t) {
    float s = hsum(acc0[t] + acc1[t]);
    for (int64_t kk = k; kk < K; ++kk) s += x[t * ldx + kk] * w[kk];
    float* o = out + t * ldy;
    *o = accumulate ? *o + s : s;
  }
}

template <int MM>
void ntRows(int64_t c0, int64_t c1, int64_t K, const float* x, int64_t ldx, const float* W, int64_t ldw, float* y,
            int64_t ldy, bool accumulate) {
  for (int64_t c = c0; c < c1; ++c) ntRow<MM>(K, x, ldx, W + c * ldw, y + c, ldy, accumulate);
}

}  // namespace

void smallNT(int64_t M, int64_t c0, int64_t c1, int64_t K, const float* x, int64_t ldx, const float* W,
             int64_t ldw, float* y, int64_t ldy, bool accumulate) {
  switch (M) {
    case 1: return ntRows<1>(c0, c1, K, x, ldx, W, ldw, y, ldy, accumulate);
    case 2: return ntRows<2>(c0, c1, K, x, ldx, W, ldw, y, ldy, accumulate);
    case 3: return ntRows<3>(c0, c1, K, x, ldx, W, ldw, y, ldy, accumulate);
    case 4: return ntRows<4>(c0, c1, K, x, ldx, W, ldw, y, ldy, accumulate);
    case 5: return ntRows<5>(c0, c1, K, x, ldx, W, ldw, y, ldy, accumulate);
    case 6: return ntRows<6>(c0, c1, K, x, ldx, W, ldw, y, ldy, accumulate);
    case 7: return ntRows<7>(c0, c1, K, x, ldx, W, ldw, y, ldy, accumulate);
    case 8: return ntRows<8>(c0, c1, K, x, ldx, W, ldw, y, ldy, accumulate);
    default: throw Error("smallNT: " + std::to_string(M) + " rows (at most 8)");
  }
}

void smallNN(int64_t M, int64_t c0, int64_t c1, int64_t K, const float* x, int64_t ldx, const float* W,
             int64_t ldw, float* y, int64_t ldy, bool accumulate) {
  if (M > 8) throw Error("smallNN: " + std::to_string(M) + " rows (at most 8)");
  constexpr int64_t kChunk = 64;
  alignas(64) float acc[8][kChunk];
  for (int64_t cb = c0; cb < c1; cb += kChunk) {
    const int64_t width = std::min(kChunk, c1 - cb);
    for (int64_t t = 0; t < M; ++t)
      for (int64_t j = 0; j < width; ++j) acc[t][j] = accumulate ? y[t * ldy + cb + j] : 0.0f;
    // each column's sum runs over k in order, whatever the chunking: a cut of the columns changes nothing
    for (int64_t k = 0; k < K; ++k) {
      const float* w = W + k * ldw + cb;
      for (int64_t t = 0; t < M; ++t) axpy(acc[t], x[t * ldx + k], w, width);
    }
    for (int64_t t = 0; t < M; ++t) std::memcpy(y + t * ldy + cb, acc[t], static_cast<size_t>(width) * 4);
  }
}

// ---- BLAST ---------------------------------------------------------------------------------------------

namespace {

// w_o[t, :] = Σ_i s ⊙ z_i[t, :] for one output block o, with s = D[o, i] (or D[i, o] for Aᵀ): the
// mixing step, summed over input blocks in order as the reference does.
void mixBlock(const BlastShape& s, int64_t o, const float* Z, const float* D, float* w) {
  const int64_t r = s.r;
  std::fill(w, w + s.N * r, 0.0f);
  for (int64_t i = 0; i < s.b; ++i) {
    const float* d = D + (s.transpose ? (i * s.b + o) : (o * s.b + i)) * r;
    for (int64_t t = 0; t < s.N; ++t) {
      float* wt = w + t * r;
      const float* zt = Z + (i * s.N + t) * r;
      int64_t k = 0;
      for (; k + 8 <= r; k += 8) store8(wt + k, load8(wt + k) + load8(d + k) * load8(zt + k));
      for (; k < r; ++k) wt[k] += d[k] * zt[k];
    }
  }
}

}  // namespace

void blastForward(ThreadPool& pool, Scratch& zs, Scratch& ws, const BlastShape& s, const float* x, const float* B,
                  const float* C, const float* D, float* y) {
  const int64_t N = s.N, b = s.b, p = s.p, q = s.q, r = s.r;
  const int64_t m = b * p, n = b * q;
  const int64_t nIn = s.transpose ? m : n;
  const int64_t nOut = s.transpose ? n : m;
  if (N == 0 || nOut == 0) return;
  float* Z = zs.floats(static_cast<size_t>(b * N * r) + 1);
  float* W = ws.floats(static_cast<size_t>(b * N * r) + 1);
  // 1. z_j = x_j·V_j = x_j·C_jᵀ (for Aᵀ: z_i = x_i·U_i = x_i·B_i)
  gemmBatch(pool, b, [&](int64_t j) {
    return s.transpose ? Gemm{N, r, p, x + j * p, nIn, false, B + j * p * r, r, false, Z + j * N * r, r, false}
                       : Gemm{N, r, q, x + j * q, nIn, false, C + j * r * q, q, true, Z + j * N * r, r, false};
  });
  // 2. w_i = Σ_j s_ij ⊙ z_j
  auto mix = [&](int64_t i, int) { mixBlock(s, i, Z, D, W + i * N * r); };
  if (static_cast<double>(b) * b * N * r < 65536)
    for (int64_t i = 0; i < b; ++i) mix(i, 0);
  else
    pool.parallelFor(b, mix);
  // 3. y_i = w_i·U_iᵀ = w_i·B_iᵀ (for Aᵀ: y_j = w_j·V_jᵀ = w_j·C_j)
  gemmBatch(pool, b, [&](int64_t i) {
    return s.transpose
               ? Gemm{N, q, r, W + i * N * r, r, false, C + i * r * q, q, false, y + i * q, nOut, false}
               : Gemm{N, p, r, W + i * N * r, r, false, B + i * p * r, r, true, y + i * p, nOut, false};
  });
}


// ---- BLAST decode from packed factors ---------------------------------------------------------------------

PackedBlast::~PackedBlast() {
  alignedFree(in);
  alignedFree(mix);
  alignedFree(out);
}

namespace {

// Packed factors are stored in panels of kPanel columns: panel P holds columns [P·kPanel, …) of every row
// contiguously, so a decode pass over one panel streams memory in order (row-major rows of a few thousand
// floats would be read with a ~4 KiB stride, which thrashes cache sets and the prefetcher).
constexpr int64_t kPanel = 64;

// Where element (row, col) of a rows × width matrix (width a multiple of 8) lies in the panel layout.
inline int64_t panelOffset(int64_t row, int64_t col, int64_t rows, int64_t width) {
  const int64_t c0 = col / kPanel * kPanel;
  return c0 * rows + row * std::min(kPanel, width - c0) + (col - c0);
}

}  // namespace

void packBlast(const BlastShape& s, const float* B, const float* C, const float* D, PackedBlast& pk) {
  const int64_t b = s.b, p = s.p, q = s.q, r = s.r;
  pk.b = b;
  pk.r = r;
  pk.r8 = (r + 7) / 8 * 8;
  pk.inBlock = s.transpose ? p : q;
  pk.outBlock = s.transpose ? q : p;
  pk.out8 = (pk.outBlock + 7) / 8 * 8;
  const size_t inCount = static_cast<size_t>(b * pk.inBlock * pk.r8);
  const size_t mixCount = static_cast<size_t>(b * b * pk.r8);
  const size_t outCount = static_cast<size_t>(b * pk.r8 * pk.out8);
  pk.in = static_cast<float*>(alignedAlloc(inCount * 4 + 64));
  pk.mix = static_cast<float*>(alignedAlloc(mixCount * 4 + 64));
  pk.out = static_cast<float*>(alignedAlloc(outCount * 4 + 64));
  pk.bytes = (inCount + mixCount + outCount) * 4;
  std::fill(pk.in, pk.in + inCount, 0.0f);
  std::fill(pk.mix, pk.mix + mixCount, 0.0f);
  std::fill(pk.out, pk.out + outCount, 0.0f);
  for (int64_t j = 0; j < b; ++j)
    for (int64_t k = 0; k < pk.inBlock; ++k)
      for (int64_t c = 0; c < r; ++c)
        // in_j[k][c]: V_j[k][c] = C[j][c][k], or for Aᵀ U_j[k][c] = B[j][k][c]
        pk.in[j * pk.inBlock * pk.r8 + panelOffset(k, c, pk.inBlock, pk.r8)] =
            s.transpose ? B[(j * p + k) * r + c] : C[(j * r + c) * q + k];
  for (int64_t o = 0; o < b; ++o)
    for (int64_t i = 0; i < b; ++i)
      for (int64_t c = 0; c < r; ++c)
        pk.mix[(o * b + i) * pk.r8 + c] = D[(s.transpose ? (i * b + o) : (o * b + i)) * r + c];
  for (int64_t o = 0; o < b; ++o)
    for (int64_t c = 0; c < r; ++c)
      for (int64_t e = 0; e < pk.outBlock; ++e)
        // out_o[c][e]: U_o[e][c] = B[o][e][c], or for Aᵀ V_oᵀ[c][e] = C[o][c][e]
        pk.out[o * pk.r8 * pk.out8 + panelOffset(c, e, pk.r8, pk.out8)] =
            s.transpose ? C[(o * r + c) * q + e] : B[(o * p + e) * r + c];
}

namespace {

// acc[0..NV) += a · rows[k][0..8·NV) over k, rows `stride` floats apart; then stored to dst.
template <int NV>
inline void axpyRows(const float* coef, int64_t count, const float* rows, int64_t stride, float* dst) {
  v8 acc[NV];
  for (int v = 0; v < NV; ++v) acc[v] = splat(0);
  for (int64_t k = 0; k < count; ++k) {
    const v8 a = splat(coef[k]);
    const float* row = rows + k * stride;
    for (int v = 0; v < NV; ++v) acc[v] += a * load8(row + 8 * v);
  }
  for (int v = 0; v < NV; ++v) store8(dst + 8 * v, acc[v]);
}

// dst[0..width) = Σ_k coef[k] · M[k][0..width) for M (`rows` × width, width a multiple of 8) in the panel
// layout; only the first `count` rows are read (the others are zero padding).
void axpyPanels(const float* coef, int64_t count, const float* M, int64_t rows, int64_t width, float* dst) {
  for (int64_t c0 = 0; c0 < width; c0 += kPanel) {
    const int64_t w = std::min(kPanel, width - c0);
    const float* r0 = M + c0 * rows;
    const int64_t stride = w;
    float* d = dst + c0;
    switch (w / 8) {
      case 8: axpyRows<8>(coef, count, r0, stride, d); break;
      case 7: axpyRows<7>(coef, count, r0, stride, d); break;
      case 6: axpyRows<6>(coef, count, r0, stride, d); break;
      case 5: axpyRows<5>(coef, count, r0, stride, d); break;
      case 4: axpyRows<4>(coef, count, r0, stride, d); break;
      case 3: axpyRows<3>(coef, count, r0, stride, d); break;
      case 2: axpyRows<2>(coef, count, r0, stride, d); break;
      default: axpyRows<1>(coef, count, r0, stride, d); break;
    }
  }
}

}  // namespace

void blastDecodePacked(ThreadPool& pool, const BlastShape& s, const PackedBlast& pk, const float* x, float* Z,
                       float* y) {
  const int64_t N = s.N, b = pk.b, r8 = pk.r8;
  const int64_t nIn = b * pk.inBlock, nOut = b * pk.outBlock;
  if (N > 8) throw Error("blastForward: the fused decode path takes at most 8 rows");
  // 1. z_j[t] = Σ_k x_j[t][k] · in_j[k]: each input block's factor read once per row, contiguously
  auto stage1 = [&](int64_t j, int) {
    for (int64_t t = 0; t < N; ++t)
      axpyPanels(x + t * nIn + j * pk.inBlock, pk.inBlock, pk.in + j * pk.inBlock * r8, pk.inBlock, r8,
                 Z + (j * N + t) * r8);
  };
  // 2 and 3 per output block: w = Σ_i s_oi ⊙ z_i in the worker's scratch, then y_o = Σ_c w[c] · out_o[c]
  auto stage23 = [&](int64_t o, int worker) {
    float* w = pool.workerScratch(worker, 0).floats(static_cast<size_t>(r8 + pk.out8) + 16);
    float* yo = w + r8;
    for (int64_t t = 0; t < N; ++t) {
      std::fill(w, w + r8, 0.0f);
      for (int64_t i = 0; i < b; ++i) {
        const float* d = pk.mix + (o * b + i) * r8;
        const float* z = Z + (i * N + t) * r8;
        for (int64_t c = 0; c < r8; c += 8) store8(w + c, load8(w + c) + load8(d + c) * load8(z + c));
      }
      axpyPanels(w, pk.r, pk.out + o * r8 * pk.out8, r8, pk.out8, yo);
      std::memcpy(y + t * nOut + o * pk.outBlock, yo, static_cast<size_t>(pk.outBlock) * 4);
    }
  };
  const double macs = static_cast<double>(N) * pk.r * (static_cast<double>(nIn) + nOut + b * b);
  if (macs < 262144 || pool.size() == 1) {
    for (int64_t j = 0; j < b; ++j) stage1(j, 0);
    for (int64_t o = 0; o < b; ++o) stage23(o, 0);
  } else {
    pool.parallelFor(b, stage1);
    pool.parallelFor(b, stage23);
  }
}

void monarchForward(ThreadPool& pool, Scratch& zs, Scratch& gs, int64_t N, int64_t b, int64_t p, int64_t q,
                    int64_t br, const float* x, const float* L, const float* R, float* y) {
  const int64_t n = b * q, m = b * p, rp = br / b;
  if (N == 0 || m == 0) return;
  float* Z = zs.floats(static_cast<size_t>(b * N * br) + 1);
  float* G = gs.floats(static_cast<size_t>(b * N * br) + 1);
  gemmBatch(pool, b, [&](int64_t j) {
    return Gemm{N, br, q, x + j * q, n, false, R + j * br * q, q, true, Z + j * N * br, br, false};
  });
  // the permutation P: G_i[:, group j] = Z_j[:, group i]
  for (int64_t i = 0; i < b; ++i)
    for (int64_t j = 0; j < b; ++j)
      for (int64_t t = 0; t < N; ++t)
        std::memcpy(G + (i * N + t) * br + j * rp, Z + (j * N + t) * br + i * rp, static_cast<size_t>(rp) * 4);
  gemmBatch(pool, b, [&](int64_t i) {
    return Gemm{N, p, br, G + i * N * br, br, false, L + i * p * br, br, true, y + i * p, m, false};
  });
}

// ---- elementwise -----------------------------------------------------------------------------------------

namespace {

template <int OP>
inline float apply2(float x, float y) {
  if constexpr (OP == 0) return x + y;
  if constexpr (OP == 1) return x - y;
  return x * y;
}

// One row of a broadcast binary op. The common layouts (both contiguous, or one operand constant along the row)
// get loops the compiler vectorizes; any other stride takes the general loop. Same arithmetic in every case.
template <int OP>
void binaryRowOp(float* o, const float* pa, int64_t sa, const float* pb, int64_t sb, int64_t n) {
  if (sa == 1 && sb == 1)
    for (int64_t j = 0; j < n; ++j) o[j] = apply2<OP>(pa[j], pb[j]);
  else if (sa == 1 && sb == 0)
    for (int64_t j = 0; j < n; ++j) o[j] = apply2<OP>(pa[j], pb[0]);
  else if (sa == 0 && sb == 1)
    for (int64_t j = 0; j < n; ++j) o[j] = apply2<OP>(pa[0], pb[j]);
  else
    for (int64_t j = 0; j < n; ++j) o[j] = apply2<OP>(pa[j * sa], pb[j * sb]);
}

void binaryRow(int op, float* o, const float* pa, int64_t sa, const float* pb, int64_t sb, int64_t n) {
  if (op == 0) binaryRowOp<0>(o, pa, sa, pb, sb, n);
  else if (op == 1) binaryRowOp<1>(o, pa, sa, pb, sb, n);
  else binaryRowOp<2>(o, pa, sa, pb, sb, n);
}

}  // namespace

void binary(int op, float* out, const float* a, const float* b, const std::vector<int64_t>& dims,
            const std::vector<int64_t>& sa, const std::vector<int64_t>& sb) {
  const size_t rank = dims.size();
  int64_t total = 1;
  for (int64_t d : dims) total *= d;
  if (total == 0) return;
  if (rank == 0) {
    out[0] = op == 0 ? a[0] + b[0] : op == 1 ? a[0] - b[0] : a[0] * b[0];
    return;
  }
  const int64_t inner = dims[rank - 1];
  const int64_t ia1 = sa[rank - 1], ib1 = sb[rank - 1];
  const int64_t rows = total / inner;
  std::vector<int64_t> index(rank, 0);
  int64_t ia = 0, ib = 0;
  for (int64_t row = 0; row < rows; ++row) {
    float* o = out + row * inner;
    const float* pa = a + ia;
    const float* pb = b + ib;
    binaryRow(op, o, pa, ia1, pb, ib1, inner);
    for (int64_t d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
      index[d]++;
      ia += sa[d];
      ib += sb[d];
      if (index[d] < dims[d]) break;
      ia -= sa[d] * dims[d];
      ib -= sb[d] * dims[d];
      index[d] = 0;
    }
  }
}

void scale(float* out, const float* a, int64_t count, double alpha, double beta) {
  for (int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(static_cast<double>(a[i]) * alpha + beta);
}

void unary(int op, float* out, const float* x, int64_t count) {
  constexpr double kSqrt2OverPi = 0.7978845608028654;
  constexpr double kSqrtHalf = 0.7071067811865476;
  auto apply = [&](auto fn) {
    for (int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(fn(static_cast<double>(x[i])));
  };
  switch (op) {
    case 0: return apply([](double v) { return v / (1 + std::exp(-v)); });
    case 1: return apply([](double v) { return 0.5 * v * (1 + std::erf(v * kSqrtHalf)); });
    case 2: return apply([](double v) { return 0.5 * v * (1 + std::tanh(kSqrt2OverPi * (v + 0.044715 * v * v * v))); });
    // Math.max(NaN, 0) is NaN: keep it
    case 3: return apply([](double v) { return std::isnan(v) ? v : (v > 0 ? v : 0.0); });
    case 4: return apply([](double v) { return 1 / (1 + std::exp(-v)); });
    case 5: return apply([](double v) { return std::tanh(v); });
    case 6: return apply([](double v) { return std::exp(v); });
    case 7: return apply([](double v) { return -v; });
    case 8: return apply([](double v) { return std::sqrt(v); });
    case 9: return apply([](double v) { return v * v; });
    case 10: return apply([](double v) { return std::fabs(v); });
    default: throw Error("unary: unknown op " + std::to_string(op));
  }
}

void softmax(float* out, const float* x, int64_t rows, int64_t width) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * width;
    float* o = out + r * width;
    double max = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < width; ++j)
      if (xr[j] > max) max = xr[j];
    double sum = 0;
    for (int64_t j = 0; j < width; ++j) {
      const double e = std::exp(static_cast<double>(xr[j]) - max);
      o[j] = static_cast<float>(e);
      sum += e;
    }
    const double inv = 1 / sum;
    for (int64_t j = 0; j < width; ++j) o[j] = static_cast<float>(o[j] * inv);
  }
}

void rmsNorm(float* out, const float* x, const float* w, int64_t rows, int64_t width, double eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * width;
    float* o = out + r * width;
    double ss = 0;
    for (int64_t j = 0; j < width; ++j) ss += static_cast<double>(xr[j]) * xr[j];
    const double inv = 1 / std::sqrt(ss / static_cast<double>(width) + eps);
    for (int64_t j = 0; j < width; ++j) o[j] = static_cast<float>(xr[j] * inv * w[j]);
  }
}

void layerNorm(float* out, const float* x, const float* w, const float* bias, int64_t rows, int64_t width,
               double eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * width;
    float* o = out + r * width;
    double mean = 0;
    for (int64_t j = 0; j < width; ++j) mean += xr[j];
    mean /= static_cast<double>(width);
    double v = 0;
    for (int64_t j = 0; j < width; ++j) {
      const double d = xr[j] - mean;
      v += d * d;
    }
    const double inv = 1 / std::sqrt(v / static_cast<double>(width) + eps);
    for (int64_t j = 0; j < width; ++j) o[j] = static_cast<float>((xr[j] - mean) * inv * w[j] + bias[j]);
  }
}

void rope(float* out, const float* x, int64_t N, int64_t heads, int64_t d, int64_t half, bool interleaved,
          const int32_t* positions, const double* inv, double positionScale) {
  if (out != x) std::memcpy(out, x, static_cast<size_t>(N * heads * d) * 4);
  std::vector<double> cs(static_cast<size_t>(half)), sn(static_cast<size_t>(half));
  for (int64_t t = 0; t < N; ++t) {
    const double pos = positions[t] * positionScale;
    for (int64_t i = 0; i < half; ++i) {
      cs[i] = std::cos(pos * inv[i]);
      sn[i] = std::sin(pos * inv[i]);
    }
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t off = (t * heads + h) * d;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t ia = interleaved ? off + 2 * i : off + i;
        const int64_t ib = interleaved ? ia + 1 : ia + half;
        const double x0 = x[ia];
        const double x1 = x[ib];
        out[ia] = static_cast<float>(x0 * cs[i] - x1 * sn[i]);
        out[ib] = static_cast<float>(x1 * cs[i] + x0 * sn[i]);
      }
    }
  }
}

void attention(ThreadPool& pool, float* out, const float* q, const float* k, const float* v, int64_t N,
               int64_t hq, int64_t S, int64_t hkv, int64_t d, bool causal, double scale, int64_t queryOffset) {
  const int64_t group = hq / hkv;
  const int64_t pairs = N * hq;
  // one task per chunk of (query, head) pairs; each pair is computed the same way on any thread
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(64, pairs / 64));
  const int64_t tasks = (pairs + chunk - 1) / chunk;
  auto run = [&](int64_t task, int worker) {
    double* scores =
        reinterpret_cast<double*>(pool.workerScratch(worker, 0).floats(static_cast<size_t>(2 * S + 2)));
    const int64_t e = std::min(pairs, (task + 1) * chunk);
    for (int64_t pair = task * chunk; pair < e; ++pair) {
      const int64_t t = pair / hq, h = pair % hq;
      const int64_t kvh = h / group;
      float* o = out + (t * hq + h) * d;
      std::fill(o, o + d, 0.0f);
      int64_t visible = S;
      if (causal) visible = std::min<int64_t>(S, queryOffset + t + 1);
      if (visible <= 0) continue;  // no key to see: the output stays zero, as the reference's
      const float* qv = q + (t * hq + h) * d;
      double max = -std::numeric_limits<double>::infinity();
      for (int64_t s = 0; s < visible; ++s) {
        scores[s] = static_cast<double>(dot(qv, k + (s * hkv + kvh) * d, d)) * scale;
        if (scores[s] > max) max = scores[s];
      }
      double sum = 0;
      for (int64_t s = 0; s < visible; ++s) {
        scores[s] = std::exp(scores[s] - max);
        sum += scores[s];
      }
      for (int64_t s = 0; s < visible; ++s)
        axpy(o, static_cast<float>(scores[s] / sum), v + (s * hkv + kvh) * d, d);
    }
  };
  if (static_cast<double>(pairs) * S * d < 262144 || tasks == 1) {
    for (int64_t task = 0; task < tasks; ++task) run(task, 0);
  } else {
    pool.parallelFor(tasks, run);
  }
}

// ---- layout and reductions ---------------------------------------------------------------------------------

void stridedCopy(float* dst, const float* src, const std::vector<int64_t>& dims,
                 const std::vector<int64_t>& srcStrides, const std::vector<int64_t>& dstStrides) {
  const size_t rank = dims.size();
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  for (int64_t d : dims)
    if (d == 0) return;
  const int64_t inner = dims[rank - 1];
  const int64_t si = srcStrides[rank - 1], di = dstStrides[rank - 1];
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < rank; ++i) rows *= dims[i];
  std::vector<int64_t> index(rank, 0);
  int64_t so = 0, dof = 0;
  for (int64_t row = 0; row < rows; ++row) {
    if (si == 1 && di == 1)
      std::memcpy(dst + dof, src + so, static_cast<size_t>(inner) * 4);
    else
      for (int64_t j = 0; j < inner; ++j) dst[dof + j * di] = src[so + j * si];
    for (int64_t d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
      index[d]++;
      so += srcStrides[d];
      dof += dstStrides[d];
      if (index[d] < dims[d]) break;
      so -= srcStrides[d] * dims[d];
      dof -= dstStrides[d] * dims[d];
      index[d] = 0;
    }
  }
}

namespace {

// One step of a reduction in float64: sum, mean (summed here), max/min (NaN wins, as Math.max/min), sumsq.
template <int OP>
inline double step(double acc, double v) {
  if constexpr (OP == 2) return (std::isnan(acc) || std::isnan(v)) ? std::numeric_limits<double>::quiet_NaN() : std::max(acc, v);
  if constexpr (OP == 3) return (std::isnan(acc) || std::isnan(v)) ? std::numeric_limits<double>::quiet_NaN() : std::min(acc, v);
  if constexpr (OP == 4) return acc + v * v;
  return acc + v;
}

template <int OP>
constexpr double start() {
  if constexpr (OP == 2) return -std::numeric_limits<double>::infinity();
  if constexpr (OP == 3) return std::numeric_limits<double>::infinity();
  return 0.0;
}

template <int OP>
void reduceOp(float* out, const float* x, int64_t outer, int64_t len, int64_t inner) {
  const auto finish = [len](double acc) { return static_cast<float>(OP == 1 ? acc / static_cast<double>(len) : acc); };
  if (inner == 1) {
    for (int64_t o = 0; o < outer; ++o) {
      const float* row = x + o * len;
      if constexpr (OP == 2 || OP == 3) {
        double acc = start<OP>();
        for (int64_t k = 0; k < len; ++k) acc = step<OP>(acc, row[k]);
        out[o] = finish(acc);
      } else {
        // four partial sums in a fixed order (k mod 4), then combined: the same bytes on every run, and not
        // bound by the latency of one chain of additions
        double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        int64_t k = 0;
        for (; k + 4 <= len; k += 4) {
          a0 = step<OP>(a0, row[k]);
          a1 = step<OP>(a1, row[k + 1]);
          a2 = step<OP>(a2, row[k + 2]);
          a3 = step<OP>(a3, row[k + 3]);
        }
        for (; k < len; ++k) a0 = step<OP>(a0, row[k]);
        out[o] = finish((a0 + a1) + (a2 + a3));
      }
    }
    return;
  }
  // a reduction over an inner axis: rows of `inner` contiguous values, summed row after row (each output's
  // order is k = 0, 1, … as before, with memory read in order)
  std::vector<double> acc(static_cast<size_t>(inner));
  for (int64_t o = 0; o < outer; ++o) {
    std::fill(acc.begin(), acc.end(), start<OP>());
    const float* base = x + o * len * inner;
    for (int64_t k = 0; k < len; ++k) {
      const float* row = base + k * inner;
      for (int64_t i = 0; i < inner; ++i) acc[i] = step<OP>(acc[i], row[i]);
    }
    for (int64_t i = 0; i < inner; ++i) out[o * inner + i] = finish(acc[i]);
  }
}

}  // namespace

void reduce(int op, float* out, const float* x, int64_t outer, int64_t len, int64_t inner) {
  switch (op) {
    case 0: return reduceOp<0>(out, x, outer, len, inner);
    case 1: return reduceOp<1>(out, x, outer, len, inner);
    case 2: return reduceOp<2>(out, x, outer, len, inner);
    case 3: return reduceOp<3>(out, x, outer, len, inner);
    case 4: return reduceOp<4>(out, x, outer, len, inner);
    default: throw Error("reduce: unknown op " + std::to_string(op));
  }
}

void argmax(float* out, const float* x, int64_t rows, int64_t width) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * width;
    int64_t best = 0;
    float bestV = xr[0];
    for (int64_t j = 1; j < width; ++j) {
      if (xr[j] > bestV) {
        bestV = xr[j];
        best = j;
      }
    }
    out[r] = static_cast<float>(best);
  }
}

}  // namespace bk
