// Launchers of the addon's own CUDA kernels (kernels.cu). They take device pointers that the caller has
// already bounds-checked against the buffers they point into (addon.cc), enqueue on `stream`, and throw
// bk::Error when the launch is refused. Sizes are element counts; int64 throughout.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace bk {

constexpr int kMaxRank = 8;

// A strided view: `rank` axes of sizes `dims`, element strides of up to two operands (0 = broadcast).
struct StridedShape {
  int rank;
  int64_t dims[kMaxRank];
  int64_t strideA[kMaxRank];
  int64_t strideB[kMaxRank];
};

enum BinaryOp : int { kAdd = 0, kSub = 1, kMul = 2 };

// Same order as UNARY_OPS in @blastkit/core (src/native-addon.ts maps names to these codes).
enum UnaryOp : int {
  kSilu = 0,
  kGelu = 1,
  kGeluTanh = 2,
  kRelu = 3,
  kSigmoid = 4,
  kTanh = 5,
  kExp = 6,
  kNeg = 7,
  kSqrt = 8,
  kSquare = 9,
  kAbs = 10,
  kUnaryOpCount = 11,
};

// Same order as REDUCE_OPS in @blastkit/core.
enum ReduceOp : int { kSum = 0, kMean = 1, kMax = 2, kMin = 3, kSumSq = 4, kReduceOpCount = 5 };

// C[b][i][j] = beta == 0 ? 0 : beta·C[b][i][j] for a column-major m×n matrix with leading dimension ldc
// (what a GEMM with k = 0 leaves; cuBLAS is not asked to handle k = 0).
void launchScaleMatrix(float* c, int64_t m, int64_t n, int64_t ldc, int64_t strideC, int64_t batch, float beta,
                       cudaStream_t stream);

// y[r][c] += bias[c] for a row-major rows×cols y: the linear layer's epilogue.
void launchAddBias(float* y, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream);

// The BLAST coupling step (method.md §1, step 2), never forming b×b×N×r:
//   W[i][t][k] = Σ_j S(i,j)[k] · Z[j][t][k],  S(i,j) = D[i][j] (or D[j][i] when transpose)
// Z and W are [b][N][r], D is [b][b][r]. Each thread owns one (t, k), loads its b values of Z once and
// writes its b outputs.
void launchBlastMix(const float* z, const float* d, float* w, int64_t b, int64_t n, int64_t r, bool transpose,
                    cudaStream_t stream);

// out[i] = a[·] op b[·] over `count` elements of the broadcast shape (strideA/strideB of `shape`).
void launchBinary(int op, float* out, const float* a, const float* b, int64_t count, const StridedShape& shape,
                  cudaStream_t stream);

// out = (float)(a·alpha + beta), computed in double as the CPU reference does.
void launchScale(float* out, const float* a, int64_t count, double alpha, double beta, cudaStream_t stream);

void launchUnary(int op, float* out, const float* x, int64_t count, cudaStream_t stream);

// Row-wise over the last axis: one block per row.
void launchSoftmax(float* out, const float* x, int64_t rows, int64_t width, cudaStream_t stream);
void launchRmsNorm(float* out, const float* x, const float* weight, int64_t rows, int64_t width, float eps,
                   cudaStream_t stream);
void launchLayerNorm(float* out, const float* x, const float* weight, const float* bias, int64_t rows,
                     int64_t width, float eps, cudaStream_t stream);

// Rotates the first 2·halfDim entries of each head of x [n, heads, headDim] into `out` (which must already
// hold a copy of x); table holds cos [n][halfDim] then sin [n][halfDim].
void launchRope(float* out, const float* x, const float* table, int64_t n, int64_t heads, int64_t headDim,
                int64_t halfDim, bool interleaved, cudaStream_t stream);

// out[t][c] = table[ids[t]][c]; ids already checked to lie in [0, V).
void launchEmbedding(float* out, const float* table, const int32_t* ids, int64_t count, int64_t d,
                     cudaStream_t stream);

// Scaled dot-product attention with grouped-query heads and an online softmax over chunks of keys:
// q [n, hq, d], k and v [s, hkv, d] → out [n, hq, d]. One block per (query, head).
void launchAttention(float* out, const float* q, const float* k, const float* v, int64_t n, int64_t hq,
                     int64_t s, int64_t hkv, int64_t d, bool causal, float scale, int64_t queryOffset,
                     cudaStream_t stream);
// Dynamic shared memory the attention kernel needs for head size d (the caller checks it against the limit).
size_t attentionSharedBytes(int64_t d);

// dst[dstOffset + Σ idx·strideB] = src[srcOffset + Σ idx·strideA] over the shape: transpose, slice, concat
// and Monarch's permutation.
void launchStridedCopy(float* dst, const float* src, int64_t count, const StridedShape& shape,
                       cudaStream_t stream);

// Reduces the middle axis of x viewed as [outer, len, inner] into out [outer, inner].
void launchReduce(int op, float* out, const float* x, int64_t outer, int64_t len, int64_t inner,
                  cudaStream_t stream);

// Index (as a float) of the largest entry of each row; the first one on ties.
void launchArgmax(float* out, const float* x, int64_t rows, int64_t width, cudaStream_t stream);

// float32 → float16 (dtype 2) or bfloat16 (dtype 14), round to nearest even.
void launchCastHalf(int dtype, void* dst, const float* src, int64_t count, cudaStream_t stream);

}  // namespace bk
