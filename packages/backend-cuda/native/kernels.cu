// The addon's own CUDA kernels: everything that is not a GEMM (GEMMs go to cuBLAS). Written for clarity
// first: grid-stride loops over int64 indices, one block per row for row-wise operations, warp-shuffle block
// reductions. Formulas follow the CPU reference of @blastkit/core (packages/core/src/cpu/kernels).

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <library_types.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "common.h"
#include "kernels.h"

namespace bk {

namespace {

constexpr int kThreads = 256;          // elementwise kernels and row kernels
constexpr int kAttentionThreads = 128;  // keys per chunk of the attention kernel
constexpr int64_t kMaxBlocks = 1 << 20;  // grid-stride loops cover the rest

unsigned blocksFor(int64_t count) {
  int64_t blocks = (count + kThreads - 1) / kThreads;
  if (blocks < 1) blocks = 1;
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

unsigned rowBlocks(int64_t rows) {
  return static_cast<unsigned>(rows < kMaxBlocks ? (rows < 1 ? 1 : rows) : kMaxBlocks);
}

#define GRID_STRIDE(i, n)                                                               \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// ---- block reductions ----------------------------------------------------------------------------------

struct SumOp {
  __device__ float operator()(float a, float b) const { return a + b; }
};
// Ignores NaN like the reference's `if (v > max) max = v` loops (softmax, attention).
struct MaxIgnoringNaN {
  __device__ float operator()(float a, float b) const { return b > a ? b : a; }
};
// Propagates NaN like Math.max / Math.min (reduce).
struct MaxOp {
  __device__ float operator()(float a, float b) const {
    if (isnan(a) || isnan(b)) return a + b;
    return b > a ? b : a;
  }
};
struct MinOp {
  __device__ float operator()(float a, float b) const {
    if (isnan(a) || isnan(b)) return a + b;
    return b < a ? b : a;
  }
};

// Reduces one value per thread over the block (blockDim.x a multiple of 32, at most 1024); every thread gets
// the result. Safe to call several times in a row: the leading barrier keeps a call from overwriting the
// partials a previous call is still reading.
template <typename Combine>
__device__ float blockReduce(float v, float identity, Combine combine) {
  __shared__ float partial[32];
  __shared__ float result;
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int warps = (blockDim.x + 31) >> 5;
  for (int o = 16; o > 0; o >>= 1) v = combine(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < warps ? partial[lane] : identity;
    for (int o = 16; o > 0; o >>= 1) v = combine(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) result = v;
  }
  __syncthreads();
  return result;
}

__device__ float blockSum(float v) { return blockReduce(v, 0.0f, SumOp()); }
__device__ float blockMaxIgnoringNaN(float v) { return blockReduce(v, -INFINITY, MaxIgnoringNaN()); }

// ---- GEMM helpers --------------------------------------------------------------------------------------

__global__ void scaleMatrixKernel(float* c, int64_t m, int64_t n, int64_t ldc, int64_t strideC, int64_t batch,
                                  float beta) {
  const int64_t per = m * n;
  GRID_STRIDE(e, batch * per) {
    const int64_t b = e / per;
    const int64_t rem = e % per;
    float* p = c + b * strideC + (rem / m) * ldc + rem % m;
    *p = beta == 0.0f ? 0.0f : beta * *p;
  }
}

__global__ void addBiasKernel(float* y, const float* bias, int64_t rows, int64_t cols) {
  GRID_STRIDE(e, rows * cols) { y[e] += bias[e % cols]; }
}

// ---- BLAST coupling --------------------------------------------------------------------------------------

// b ≤ MAXB: the b values of Z for this (t, k) live in registers (the unrolled j loops index them statically).
template <int MAXB>
__global__ void blastMixKernel(const float* z, const float* d, float* w, int b, int64_t n, int64_t r,
                               bool transpose) {
  const int64_t nr = n * r;
  GRID_STRIDE(e, nr) {
    const int64_t k = e % r;
    float zj[MAXB];
#pragma unroll
    for (int j = 0; j < MAXB; ++j) zj[j] = j < b ? z[j * nr + e] : 0.0f;
    for (int i = 0; i < b; ++i) {
      float acc = 0.0f;
#pragma unroll
      for (int j = 0; j < MAXB; ++j) {
        if (j < b) {
          const int64_t s = transpose ? (static_cast<int64_t>(j) * b + i) : (static_cast<int64_t>(i) * b + j);
          acc = fmaf(d[s * r + k], zj[j], acc);
        }
      }
      w[i * nr + e] = acc;
    }
  }
}

// Any b: Z is read b times per (t, k) instead of once.
__global__ void blastMixGenericKernel(const float* z, const float* d, float* w, int64_t b, int64_t n,
                                      int64_t r, bool transpose) {
  const int64_t nr = n * r;
  GRID_STRIDE(e, nr) {
    const int64_t k = e % r;
    for (int64_t i = 0; i < b; ++i) {
      float acc = 0.0f;
      for (int64_t j = 0; j < b; ++j) {
        const int64_t s = transpose ? (j * b + i) : (i * b + j);
        acc = fmaf(d[s * r + k], z[j * nr + e], acc);
      }
      w[i * nr + e] = acc;
    }
  }
}

// ---- elementwise ---------------------------------------------------------------------------------------

template <int OP>
__global__ void binaryKernel(float* out, const float* a, const float* b, int64_t count, StridedShape sh) {
  GRID_STRIDE(e, count) {
    int64_t rem = e;
    int64_t oa = 0;
    int64_t ob = 0;
    for (int axis = sh.rank - 1; axis >= 0; --axis) {
      const int64_t idx = rem % sh.dims[axis];
      rem /= sh.dims[axis];
      oa += idx * sh.strideA[axis];
      ob += idx * sh.strideB[axis];
    }
    const float x = a[oa];
    const float y = b[ob];
    out[e] = OP == kAdd ? x + y : OP == kSub ? x - y : x * y;
  }
}

__global__ void scaleKernel(float* out, const float* a, int64_t count, double alpha, double beta) {
  GRID_STRIDE(e, count) { out[e] = static_cast<float>(static_cast<double>(a[e]) * alpha + beta); }
}

template <int OP>
__device__ float unaryOp(float x) {
  if (OP == kSilu) return x / (1.0f + expf(-x));
  if (OP == kGelu) return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
  if (OP == kGeluTanh) return 0.5f * x * (1.0f + tanhf(0.79788456080286535588f * (x + 0.044715f * x * x * x)));
  if (OP == kRelu) return isnan(x) ? x : (x > 0.0f ? x : 0.0f);
  if (OP == kSigmoid) return 1.0f / (1.0f + expf(-x));
  if (OP == kTanh) return tanhf(x);
  if (OP == kExp) return expf(x);
  if (OP == kNeg) return -x;
  if (OP == kSqrt) return sqrtf(x);
  if (OP == kSquare) return x * x;
  return fabsf(x);  // kAbs
}

template <int OP>
__global__ void unaryKernel(float* out, const float* x, int64_t count) {
  GRID_STRIDE(e, count) { out[e] = unaryOp<OP>(x[e]); }
}

// ---- row-wise: softmax, norms ----------------------------------------------------------------------------

__global__ void softmaxKernel(float* out, const float* x, int64_t rows, int64_t width) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* xr = x + row * width;
    float* orow = out + row * width;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) m = xr[j] > m ? xr[j] : m;
    m = blockMaxIgnoringNaN(m);
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) {
      const float e = expf(xr[j] - m);
      orow[j] = e;
      sum += e;
    }
    sum = blockSum(sum);
    const float inv = 1.0f / sum;
    // each thread rescales the entries it wrote itself
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) orow[j] *= inv;
  }
}

__global__ void rmsNormKernel(float* out, const float* x, const float* weight, int64_t rows, int64_t width,
                              float eps) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* xr = x + row * width;
    float* orow = out + row * width;
    float ss = 0.0f;
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) ss = fmaf(xr[j], xr[j], ss);
    ss = blockSum(ss);
    const float inv = 1.0f / sqrtf(ss / static_cast<float>(width) + eps);
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) orow[j] = xr[j] * inv * weight[j];
  }
}

__global__ void layerNormKernel(float* out, const float* x, const float* weight, const float* bias,
                                int64_t rows, int64_t width, float eps) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* xr = x + row * width;
    float* orow = out + row * width;
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) s += xr[j];
    const float mean = blockSum(s) / static_cast<float>(width);
    float v = 0.0f;
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) {
      const float dlt = xr[j] - mean;
      v = fmaf(dlt, dlt, v);
    }
    const float inv = 1.0f / sqrtf(blockSum(v) / static_cast<float>(width) + eps);
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x)
      orow[j] = (xr[j] - mean) * inv * weight[j] + bias[j];
  }
}

// ---- rope, embedding -------------------------------------------------------------------------------------

__global__ void ropeKernel(float* out, const float* x, const float* table, int64_t n, int64_t heads,
                           int64_t headDim, int64_t halfDim, bool interleaved) {
  GRID_STRIDE(e, n * heads * halfDim) {
    const int64_t i = e % halfDim;
    const int64_t row = e / halfDim;  // t·heads + h
    const int64_t t = row / heads;
    const int64_t base = row * headDim;
    const int64_t a = interleaved ? base + 2 * i : base + i;
    const int64_t b = interleaved ? a + 1 : a + halfDim;
    // in double, as the reference, then rounded once
    const double c = table[t * halfDim + i];
    const double s = table[n * halfDim + t * halfDim + i];
    const double x0 = x[a];
    const double x1 = x[b];
    out[a] = static_cast<float>(x0 * c - x1 * s);
    out[b] = static_cast<float>(x1 * c + x0 * s);
  }
}

__global__ void embeddingKernel(float* out, const float* table, const int32_t* ids, int64_t count, int64_t d) {
  GRID_STRIDE(e, count * d) { out[e] = table[static_cast<int64_t>(ids[e / d]) * d + e % d]; }
}

// ---- attention -------------------------------------------------------------------------------------------

// Shared memory: the query row (d), the output accumulators (d), the probabilities of one key chunk.
__global__ void attentionKernel(float* out, const float* q, const float* k, const float* v, int64_t n,
                                int64_t hq, int64_t s, int64_t hkv, int64_t d, bool causal, float scale,
                                int64_t queryOffset) {
  extern __shared__ float shared[];
  float* sq = shared;
  float* acc = shared + d;
  float* prob = shared + 2 * d;
  const int tid = threadIdx.x;
  const int64_t group = hq / hkv;
  for (int64_t item = blockIdx.x; item < n * hq; item += gridDim.x) {
    const int64_t t = item / hq;
    const int64_t h = item % hq;
    const int64_t kvh = h / group;
    int64_t visible = causal ? queryOffset + t + 1 : s;
    if (visible > s) visible = s;
    if (visible < 0) visible = 0;
    const float* qrow = q + (t * hq + h) * d;
    for (int64_t c = tid; c < d; c += blockDim.x) {
      sq[c] = qrow[c];
      acc[c] = 0.0f;
    }
    __syncthreads();
    float runMax = -INFINITY;
    float runSum = 0.0f;
    for (int64_t s0 = 0; s0 < visible; s0 += blockDim.x) {
      const int64_t key = s0 + tid;
      float score = -INFINITY;
      if (key < visible) {
        const float* krow = k + (key * hkv + kvh) * d;
        float dot = 0.0f;
        for (int64_t c = 0; c < d; ++c) dot = fmaf(sq[c], krow[c], dot);
        score = dot * scale;
      }
      const float chunkMax = blockMaxIgnoringNaN(score);
      const float newMax = chunkMax > runMax ? chunkMax : runMax;
      const float correction = runMax == -INFINITY ? 0.0f : expf(runMax - newMax);
      const float p = key < visible ? expf(score - newMax) : 0.0f;
      prob[tid] = p;
      const float chunkSum = blockSum(p);  // its barriers also publish prob[]
      runSum = runSum * correction + chunkSum;
      const int64_t count = visible - s0 < blockDim.x ? visible - s0 : blockDim.x;
      for (int64_t c = tid; c < d; c += blockDim.x) {
        float a = acc[c] * correction;
        for (int64_t j = 0; j < count; ++j) a = fmaf(prob[j], v[((s0 + j) * hkv + kvh) * d + c], a);
        acc[c] = a;
      }
      runMax = newMax;
      __syncthreads();  // prob[] is rewritten by the next chunk
    }
    float* orow = out + (t * hq + h) * d;
    for (int64_t c = tid; c < d; c += blockDim.x) orow[c] = visible > 0 ? acc[c] / runSum : 0.0f;
    __syncthreads();  // sq/acc are rewritten by the next item
  }
}

// ---- layout ----------------------------------------------------------------------------------------------

__global__ void stridedCopyKernel(float* dst, const float* src, int64_t count, StridedShape sh) {
  GRID_STRIDE(e, count) {
    int64_t rem = e;
    int64_t so = 0;
    int64_t dof = 0;
    for (int axis = sh.rank - 1; axis >= 0; --axis) {
      const int64_t idx = rem % sh.dims[axis];
      rem /= sh.dims[axis];
      so += idx * sh.strideA[axis];
      dof += idx * sh.strideB[axis];
    }
    dst[dof] = src[so];
  }
}

// ---- reductions ------------------------------------------------------------------------------------------

__device__ float reduceIdentity(int op) {
  return op == kMax ? -INFINITY : op == kMin ? INFINITY : 0.0f;
}

__device__ float reduceCombine(int op, float a, float b) {
  if (op == kMax) return MaxOp()(a, b);
  if (op == kMin) return MinOp()(a, b);
  return a + b;
}

__device__ float reduceTerm(int op, float x) { return op == kSumSq ? x * x : x; }

__device__ float reduceFinish(int op, float acc, int64_t len) {
  return op == kMean ? acc / static_cast<float>(len) : acc;
}

// Short axes: one thread per output.
__global__ void reduceThreadKernel(int op, float* out, const float* x, int64_t outer, int64_t len,
                                   int64_t inner) {
  GRID_STRIDE(e, outer * inner) {
    const int64_t o = e / inner;
    const int64_t i = e % inner;
    const float* base = x + o * len * inner + i;
    float acc = reduceIdentity(op);
    for (int64_t j = 0; j < len; ++j) acc = reduceCombine(op, acc, reduceTerm(op, base[j * inner]));
    out[e] = reduceFinish(op, acc, len);
  }
}

// Long axes: one block per output.
__global__ void reduceBlockKernel(int op, float* out, const float* x, int64_t outer, int64_t len,
                                  int64_t inner) {
  for (int64_t e = blockIdx.x; e < outer * inner; e += gridDim.x) {
    const int64_t o = e / inner;
    const int64_t i = e % inner;
    const float* base = x + o * len * inner + i;
    float acc = reduceIdentity(op);
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x)
      acc = reduceCombine(op, acc, reduceTerm(op, base[j * inner]));
    if (op == kMax) {
      acc = blockReduce(acc, -INFINITY, MaxOp());
    } else if (op == kMin) {
      acc = blockReduce(acc, INFINITY, MinOp());
    } else {
      acc = blockSum(acc);
    }
    if (threadIdx.x == 0) out[e] = reduceFinish(op, acc, len);
  }
}

__global__ void argmaxKernel(float* out, const float* x, int64_t rows, int64_t width) {
  __shared__ float bestValue[kThreads];
  __shared__ int64_t bestIndex[kThreads];
  const int tid = threadIdx.x;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* xr = x + row * width;
    float best = 0.0f;
    int64_t at = -1;  // this thread saw no entry
    for (int64_t j = tid; j < width; j += blockDim.x) {
      if (at < 0 || xr[j] > best) {
        best = xr[j];
        at = j;
      }
    }
    bestValue[tid] = best;
    bestIndex[tid] = at;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
      if (tid < stride) {
        const int64_t oi = bestIndex[tid + stride];
        const float ov = bestValue[tid + stride];
        const int64_t mi = bestIndex[tid];
        const float mv = bestValue[tid];
        // the larger value wins; on a tie the smaller index (the first occurrence)
        if (oi >= 0 && (mi < 0 || ov > mv || (ov == mv && oi < mi))) {
          bestValue[tid] = ov;
          bestIndex[tid] = oi;
        }
      }
      __syncthreads();
    }
    if (tid == 0) out[row] = static_cast<float>(bestIndex[0]);
    __syncthreads();  // the next row reuses the shared arrays
  }
}

// ---- casts -----------------------------------------------------------------------------------------------

__global__ void castHalfKernel(__half* dst, const float* src, int64_t count) {
  GRID_STRIDE(e, count) { dst[e] = __float2half_rn(src[e]); }
}

__global__ void castBf16Kernel(__nv_bfloat16* dst, const float* src, int64_t count) {
  GRID_STRIDE(e, count) { dst[e] = __float2bfloat16_rn(src[e]); }
}

}  // namespace

// ---- launchers -------------------------------------------------------------------------------------------

void launchScaleMatrix(float* c, int64_t m, int64_t n, int64_t ldc, int64_t strideC, int64_t batch, float beta,
                       cudaStream_t stream) {
  const int64_t count = m * n * batch;
  if (count == 0) return;
  scaleMatrixKernel<<<blocksFor(count), kThreads, 0, stream>>>(c, m, n, ldc, strideC, batch, beta);
  checkLaunch("scaleMatrixKernel");
}

void launchAddBias(float* y, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows * cols == 0) return;
  addBiasKernel<<<blocksFor(rows * cols), kThreads, 0, stream>>>(y, bias, rows, cols);
  checkLaunch("addBiasKernel");
}

void launchBlastMix(const float* z, const float* d, float* w, int64_t b, int64_t n, int64_t r, bool transpose,
                    cudaStream_t stream) {
  const int64_t nr = n * r;
  if (nr == 0 || b == 0) return;
  const unsigned blocks = blocksFor(nr);
  const int bi = static_cast<int>(b);
  if (b <= 4) {
    blastMixKernel<4><<<blocks, kThreads, 0, stream>>>(z, d, w, bi, n, r, transpose);
  } else if (b <= 8) {
    blastMixKernel<8><<<blocks, kThreads, 0, stream>>>(z, d, w, bi, n, r, transpose);
  } else if (b <= 16) {
    blastMixKernel<16><<<blocks, kThreads, 0, stream>>>(z, d, w, bi, n, r, transpose);
  } else if (b <= 32) {
    blastMixKernel<32><<<blocks, kThreads, 0, stream>>>(z, d, w, bi, n, r, transpose);
  } else {
    blastMixGenericKernel<<<blocks, kThreads, 0, stream>>>(z, d, w, b, n, r, transpose);
  }
  checkLaunch("blastMixKernel");
}

void launchBinary(int op, float* out, const float* a, const float* b, int64_t count, const StridedShape& shape,
                  cudaStream_t stream) {
  if (count == 0) return;
  const unsigned blocks = blocksFor(count);
  switch (op) {
    case kAdd: binaryKernel<kAdd><<<blocks, kThreads, 0, stream>>>(out, a, b, count, shape); break;
    case kSub: binaryKernel<kSub><<<blocks, kThreads, 0, stream>>>(out, a, b, count, shape); break;
    case kMul: binaryKernel<kMul><<<blocks, kThreads, 0, stream>>>(out, a, b, count, shape); break;
    default: throw Error("binary: unknown op code " + std::to_string(op));
  }
  checkLaunch("binaryKernel");
}

void launchScale(float* out, const float* a, int64_t count, double alpha, double beta, cudaStream_t stream) {
  if (count == 0) return;
  scaleKernel<<<blocksFor(count), kThreads, 0, stream>>>(out, a, count, alpha, beta);
  checkLaunch("scaleKernel");
}

void launchUnary(int op, float* out, const float* x, int64_t count, cudaStream_t stream) {
  if (count == 0) return;
  const unsigned g = blocksFor(count);
  switch (op) {
    case kSilu: unaryKernel<kSilu><<<g, kThreads, 0, stream>>>(out, x, count); break;
    case kGelu: unaryKernel<kGelu><<<g, kThreads, 0, stream>>>(out, x, count); break;
    case kGeluTanh: unaryKernel<kGeluTanh><<<g, kThreads, 0, stream>>>(out, x, count); break;
    case kRelu: unaryKernel<kRelu><<<g, kThreads, 0, stream>>>(out, x, count); break;
    case kSigmoid: unaryKernel<kSigmoid><<<g, kThreads, 0, stream>>>(out, x, count); break;
    case kTanh: unaryKernel<kTanh><<<g, kThreads, 0, stream>>>(out, x, count); break;
    case kExp: unaryKernel<kExp><<<g, kThreads, 0, stream>>>(out, x, count); break;
    case kNeg: unaryKernel<kNeg><<<g, kThreads, 0, stream>>>(out, x, count); break;
    case kSqrt: unaryKernel<kSqrt><<<g, kThreads, 0, stream>>>(out, x, count); break;
    case kSquare: unaryKernel<kSquare><<<g, kThreads, 0, stream>>>(out, x, count); break;
    case kAbs: unaryKernel<kAbs><<<g, kThreads, 0, stream>>>(out, x, count); break;
    default: throw Error("unary: unknown op code " + std::to_string(op));
  }
  checkLaunch("unaryKernel");
}

void launchSoftmax(float* out, const float* x, int64_t rows, int64_t width, cudaStream_t stream) {
  if (rows == 0 || width == 0) return;
  softmaxKernel<<<rowBlocks(rows), kThreads, 0, stream>>>(out, x, rows, width);
  checkLaunch("softmaxKernel");
}

void launchRmsNorm(float* out, const float* x, const float* weight, int64_t rows, int64_t width, float eps,
                   cudaStream_t stream) {
  if (rows == 0 || width == 0) return;
  rmsNormKernel<<<rowBlocks(rows), kThreads, 0, stream>>>(out, x, weight, rows, width, eps);
  checkLaunch("rmsNormKernel");
}

void launchLayerNorm(float* out, const float* x, const float* weight, const float* bias, int64_t rows,
                     int64_t width, float eps, cudaStream_t stream) {
  if (rows == 0 || width == 0) return;
  layerNormKernel<<<rowBlocks(rows), kThreads, 0, stream>>>(out, x, weight, bias, rows, width, eps);
  checkLaunch("layerNormKernel");
}

void launchRope(float* out, const float* x, const float* table, int64_t n, int64_t heads, int64_t headDim,
                int64_t halfDim, bool interleaved, cudaStream_t stream) {
  const int64_t count = n * heads * halfDim;
  if (count == 0) return;
  ropeKernel<<<blocksFor(count), kThreads, 0, stream>>>(out, x, table, n, heads, headDim, halfDim, interleaved);
  checkLaunch("ropeKernel");
}

void launchEmbedding(float* out, const float* table, const int32_t* ids, int64_t count, int64_t d,
                     cudaStream_t stream) {
  if (count * d == 0) return;
  embeddingKernel<<<blocksFor(count * d), kThreads, 0, stream>>>(out, table, ids, count, d);
  checkLaunch("embeddingKernel");
}

size_t attentionSharedBytes(int64_t d) {
  return static_cast<size_t>(2 * d + kAttentionThreads) * sizeof(float);
}

void launchAttention(float* out, const float* q, const float* k, const float* v, int64_t n, int64_t hq,
                     int64_t s, int64_t hkv, int64_t d, bool causal, float scale, int64_t queryOffset,
                     cudaStream_t stream) {
  if (n * hq * d == 0) return;
  attentionKernel<<<rowBlocks(n * hq), kAttentionThreads, attentionSharedBytes(d), stream>>>(
      out, q, k, v, n, hq, s, hkv, d, causal, scale, queryOffset);
  checkLaunch("attentionKernel");
}

void launchStridedCopy(float* dst, const float* src, int64_t count, const StridedShape& shape,
                       cudaStream_t stream) {
  if (count == 0) return;
  stridedCopyKernel<<<blocksFor(count), kThreads, 0, stream>>>(dst, src, count, shape);
  checkLaunch("stridedCopyKernel");
}

void launchReduce(int op, float* out, const float* x, int64_t outer, int64_t len, int64_t inner,
                  cudaStream_t stream) {
  if (op < 0 || op >= kReduceOpCount) throw Error("reduce: unknown op code " + std::to_string(op));
  const int64_t outputs = outer * inner;
  if (outputs == 0) return;
  if (len >= 1024) {
    reduceBlockKernel<<<rowBlocks(outputs), kThreads, 0, stream>>>(op, out, x, outer, len, inner);
  } else {
    reduceThreadKernel<<<blocksFor(outputs), kThreads, 0, stream>>>(op, out, x, outer, len, inner);
  }
  checkLaunch("reduceKernel");
}

void launchArgmax(float* out, const float* x, int64_t rows, int64_t width, cudaStream_t stream) {
  if (rows == 0 || width == 0) return;
  argmaxKernel<<<rowBlocks(rows), kThreads, 0, stream>>>(out, x, rows, width);
  checkLaunch("argmaxKernel");
}

void launchCastHalf(int dtype, void* dst, const float* src, int64_t count, cudaStream_t stream) {
  if (count == 0) return;
  if (dtype == CUDA_R_16F) {
    castHalfKernel<<<blocksFor(count), kThreads, 0, stream>>>(static_cast<__half*>(dst), src, count);
  } else if (dtype == CUDA_R_16BF) {
    castBf16Kernel<<<blocksFor(count), kThreads, 0, stream>>>(static_cast<__nv_bfloat16*>(dst), src, count);
  } else {
    throw Error("cast: unsupported dtype code " + std::to_string(dtype));
  }
  checkLaunch("castKernel");
}

}  // namespace bk
