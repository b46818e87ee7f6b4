// Shared by the addon's translation units: the error type, the thread pool, aligned scratch, and the kernel
// entry points. Nothing here includes Eigen (only gemm.cc and linalg.cc do, so the slow-to-compile parts stay
// in two translation units).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace bk {

// Every failure on the native side is thrown as this and becomes a JS Error at the N-API boundary.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// 64-byte aligned float storage that grows on demand and never shrinks (per-context and per-worker scratch).
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch();
  float* floats(size_t count);
  size_t bytes() const { return capacity_ * sizeof(float); }
  void release();

 private:
  float* data_ = nullptr;
  size_t capacity_ = 0;
};

void* alignedAlloc(size_t bytes);
void alignedFree(void* p);

// A persistent pool of worker threads. parallelFor runs fn(task, worker) for task in [0, count) on the workers
// and the calling thread (worker 0); it returns when every task is done. Which thread runs a task does not
// change its result: every kernel partitions its work by sizes only, never by the number of threads.
class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return threads_; }
  void parallelFor(int64_t count, const std::function<void(int64_t task, int worker)>& fn);
  // Scratch private to one worker (index from parallelFor's `worker`), kept between calls.
  Scratch& workerScratch(int worker, int slot) { return scratch_[worker * kSlots + slot]; }
  size_t scratchBytes() const;

 private:
  static constexpr int kSlots = 2;
  void workerLoop(int index);
  void runTasks(int worker);

  int threads_;
  std::vector<std::thread> workers_;
  std::vector<Scratch> scratch_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int64_t, int)>* job_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<int64_t> finished_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;
};

// ---- GEMM (gemm.cc, Eigen) ------------------------------------------------------------------------------

// C[M,N] (+)= op(A)·op(B), all row-major. op(A) is A [M, lda≥K] or, transposed, A stored [K, lda≥M]; op(B) is
// B [K, ldb≥N] or, transposed, B stored [N, ldb≥K]. `accumulate` adds to C instead of overwriting it.
struct Gemm {
  int64_t M, N, K;
  const float* A;
  int64_t lda;
  bool ta;
  const float* B;
  int64_t ldb;
  bool tb;
  float* C;
  int64_t ldc;
  bool accumulate;
};

// One GEMM, split over the pool by blocks of output rows or columns when it is big enough.
void gemm(ThreadPool& pool, const Gemm& g);
// `count` independent GEMMs (spec(i) describes the i-th): in parallel over items when each is small, else one
// after the other, each split.
void gemmBatch(ThreadPool& pool, int64_t count, const std::function<Gemm(int64_t)>& spec);
// The same product on the calling thread only (used inside parallel tasks).
void gemmSerial(const Gemm& g, Scratch& scratch);
// "3.4.0": the Eigen compiled in.
const char* eigenVersion();

// ---- linear algebra (linalg.cc, Eigen, float64) --------------------------------------------------------

struct PivotFailure {
  int64_t system = -1;  // -1: every system factorized
  int64_t pivot = 0;
  double value = 0;
};
PivotFailure choleskySolve(ThreadPool& pool, const float* A, const float* B, float* X, int64_t batch, int64_t r,
                           int64_t c);
void eigh(const float* A, int64_t n, float* values, float* vectors);
void truncatedSvd(const float* A, int64_t m, int64_t n, int64_t k, float* U, float* S, float* V);

// ---- the rest (kernels.cc) ------------------------------------------------------------------------------

// y[t, c] = Σ_k x[t, k]·W[c, k] for t < M ≤ 8, c in [c0, c1): each row of W read once for all M rows of x.
void smallNT(int64_t M, int64_t c0, int64_t c1, int64_t K, const float* x, int64_t ldx, const float* W,
             int64_t ldw, float* y, int64_t ldy, bool accumulate);
// y[t, c] = Σ_k x[t, k]·W[k, c] for t < M ≤ 8, c in [c0, c1).
void smallNN(int64_t M, int64_t c0, int64_t c1, int64_t K, const float* x, int64_t ldx, const float* W,
             int64_t ldw, float* y, int64_t ldy, bool accumulate);

struct BlastShape {
  int64_t N, b, p, q, r;
  bool transpose;
};
// The three passes (batched GEMMs around the mixing step), for N > 8 or when asked for; N ≤ 8 decodes from
// packed factors (blastDecodePacked).
void blastForward(ThreadPool& pool, Scratch& z, Scratch& w, const BlastShape& s, const float* x, const float* B,
                  const float* C, const float* D, float* y);
// One BLAST layer's factors in the decode layout, made once on first use and kept with the tensors: the
// input-side factor as b matrices [inBlock × r8] and the output-side one as b matrices [r8 × out8], each in
// panels of 64 columns (kernels.cc), so every stage is a stream of vector multiply-adds with no horizontal
// sums; the couplings as [out block][in block][r8]. r8 and out8 are r and the output block padded with zeros
// to a multiple of 8 floats.
struct PackedBlast {
  int64_t b = 0, inBlock = 0, outBlock = 0, r = 0, r8 = 0, out8 = 0;
  float* in = nullptr;
  float* mix = nullptr;
  float* out = nullptr;
  size_t bytes = 0;
  PackedBlast() = default;
  PackedBlast(const PackedBlast&) = delete;
  PackedBlast& operator=(const PackedBlast&) = delete;
  ~PackedBlast();
};
void packBlast(const BlastShape& s, const float* B, const float* C, const float* D, PackedBlast& pk);
// y = A·x (or Aᵀ·x) for N ≤ 8 rows from the packed factors; Z is scratch of b·N·r8 floats.
void blastDecodePacked(ThreadPool& pool, const BlastShape& s, const PackedBlast& pk, const float* x, float* Z,
                       float* y);

void monarchForward(ThreadPool& pool, Scratch& zs, Scratch& gs, int64_t N, int64_t b, int64_t p, int64_t q,
                    int64_t br, const float* x, const float* L, const float* R, float* y);

void binary(int op, float* out, const float* a, const float* b, const std::vector<int64_t>& dims,
            const std::vector<int64_t>& sa, const std::vector<int64_t>& sb);
void scale(float* out, const float* a, int64_t count, double alpha, double beta);
void unary(int op, float* out, const float* x, int64_t count);
void softmax(float* out, const float* x, int64_t rows, int64_t width);
void rmsNorm(float* out, const float* x, const float* w, int64_t rows, int64_t width, double eps);
void layerNorm(float* out, const float* x, const float* w, const float* bias, int64_t rows, int64_t width,
               double eps);
void rope(float* out, const float* x, int64_t N, int64_t heads, int64_t d, int64_t half, bool interleaved,
          const int32_t* positions, const double* inv, double positionScale);
void attention(ThreadPool& pool, float* out, const float* q, const float* k, const float* v, int64_t N,
               int64_t hq, int64_t S, int64_t hkv, int64_t d, bool causal, double scale, int64_t queryOffset);
void stridedCopy(float* dst, const float* src, const std::vector<int64_t>& dims,
                 const std::vector<int64_t>& srcStrides, const std::vector<int64_t>& dstStrides);
void reduce(int op, float* out, const float* x, int64_t outer, int64_t len, int64_t inner);
void argmax(float* out, const float* x, int64_t rows, int64_t width);

}  // namespace bk
