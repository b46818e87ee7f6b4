// GEMM on Eigen 3.4: every product of the backend comes here. Eigen's own threading is off (no OpenMP); a big
// product is cut into blocks of output rows or columns and each block is one Eigen product on one thread of
// the pool. The cut depends on the sizes only, never on the number of threads, so the same inputs give the
// same bytes whatever the pool size. Products with at most 8 rows (decode) go to smallNT/smallNN instead,
// which read each weight once for all rows and split over output columns.

#define EIGEN_DONT_PARALLELIZE
#include <Eigen/Core>
#include <algorithm>
#include <cstring>

#include "common.h"

namespace bk {
namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;
using MutMap = Eigen::Map<RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;

constexpr int64_t kSerialMacs = int64_t{1} << 21;  // below this a product stays on the calling thread
constexpr int64_t kBatchItemMacs = int64_t{1} << 23;  // below this a batch runs items in parallel, unsplit
constexpr int64_t kSmallRows = 8;

// op(A) restricted to rows [i0, i1) times op(B) restricted to columns [j0, j1).
template <bool TA, bool TB>
void eigenBlock(const Gemm& g, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  const int64_t rows = i1 - i0;
  const int64_t cols = j1 - j0;
  MutMap c(g.C + i0 * g.ldc + j0, rows, cols, Eigen::OuterStride<>(g.ldc));
  if (g.K == 0) {
    if (!g.accumulate) c.setZero();
    return;
  }
  auto run = [&](const auto& a, const auto& b) {
    if (g.accumulate)
      c.noalias() += a * b;
    else
      c.noalias() = a * b;
  };
  const ConstMap a = TA ? ConstMap(g.A + i0, g.K, rows, Eigen::OuterStride<>(g.lda))
                        : ConstMap(g.A + i0 * g.lda, rows, g.K, Eigen::OuterStride<>(g.lda));
  const ConstMap b = TB ? ConstMap(g.B + j0 * g.ldb, cols, g.K, Eigen::OuterStride<>(g.ldb))
                        : ConstMap(g.B + j0, g.K, cols, Eigen::OuterStride<>(g.ldb));
  if (TA && TB)
    run(a.transpose(), b.transpose());
  else if (TA)
    run(a.transpose(), b);
  else if (TB)
    run(a, b.transpose());
  else
    run(a, b);
}

void block(const Gemm& g, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  if (i1 <= i0 || j1 <= j0) return;
  if (g.ta) {
    if (g.tb)
      eigenBlock<true, true>(g, i0, i1, j0, j1);
    else
      eigenBlock<true, false>(g, i0, i1, j0, j1);
  } else {
    if (g.tb)
      eigenBlock<false, true>(g, i0, i1, j0, j1);
    else
      eigenBlock<false, false>(g, i0, i1, j0, j1);
  }
}

// The rows of op(A) contiguous: A itself, or its transpose gathered into `scratch`.
const float* smallRows(const Gemm& g, Scratch& scratch, int64_t* ld) {
  if (!g.ta) {
    *ld = g.lda;
    return g.A;
  }
  float* out = scratch.floats(static_cast<size_t>(g.M * g.K));
  for (int64_t t = 0; t < g.M; ++t)
    for (int64_t k = 0; k < g.K; ++k) out[t * g.K + k] = g.A[k * g.lda + t];
  *ld = g.K;
  return out;
}

void smallColumns(const Gemm& g, const float* x, int64_t ldx, int64_t c0, int64_t c1) {
  if (g.tb)
    smallNT(g.M, c0, c1, g.K, x, ldx, g.B, g.ldb, g.C, g.ldc, g.accumulate);
  else
    smallNN(g.M, c0, c1, g.K, x, ldx, g.B, g.ldb, g.C, g.ldc, g.accumulate);
}

int64_t roundUp(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

}  // namespace

void gemmSerial(const Gemm& g, Scratch& scratch) {
  if (g.M == 0 || g.N == 0) return;
  if (g.M <= kSmallRows) {
    int64_t ldx = 0;
    const float* x = smallRows(g, scratch, &ldx);
    smallColumns(g, x, ldx, 0, g.N);
    return;
  }
  block(g, 0, g.M, 0, g.N);
}

void gemm(ThreadPool& pool, const Gemm& g) {
  if (g.M == 0 || g.N == 0) return;
  const int64_t macs = g.M * g.N * std::max<int64_t>(g.K, 1);
  if (g.M <= kSmallRows) {
    int64_t ldx = 0;
    const float* x = smallRows(g, pool.workerScratch(0, 1), &ldx);
    if (macs < kSerialMacs || pool.size() == 1) {
      smallColumns(g, x, ldx, 0, g.N);
      return;
    }
    // each output entry is computed the same way whatever the cut (see smallNT/smallNN), so this cut may
    // follow the pool size; blocks of 64 columns keep vector lanes aligned the same way in every cut
    const int64_t width = std::max<int64_t>(64, roundUp((g.N + 4 * pool.size() - 1) / (4 * pool.size()), 64));
    const int64_t tasks = (g.N + width - 1) / width;
    pool.parallelFor(tasks, [&](int64_t t, int) {
      smallColumns(g, x, ldx, t * width, std::min(g.N, (t + 1) * width));
    });
    return;
  }
  if (macs < kSerialMacs) {
    block(g, 0, g.M, 0, g.N);
    return;
  }
  // about 8 blocks along the longer side of C, at least 128 wide: sizes alone decide
  const bool byColumns = g.N >= g.M;
  const int64_t side = byColumns ? g.N : g.M;
  const int64_t width = std::max<int64_t>(128, roundUp((side + 7) / 8, 16));
  const int64_t tasks = (side + width - 1) / width;
  pool.parallelFor(tasks, [&](int64_t t, int) {
    const int64_t s0 = t * width;
    const int64_t s1 = std::min(side, s0 + width);
    if (byColumns)
      block(g, 0, g.M, s0, s1);
    else
      block(g, s0, s1, 0, g.N);
  });
}

void gemmBatch(ThreadPool& pool, int64_t count, const std::function<Gemm(int64_t)>& spec) {
  if (count <= 0) return;
  const Gemm first = spec(0);
  const int64_t macs = first.M * first.N * std::max<int64_t>(first.K, 1);
  if (count == 1 || macs >= kBatchItemMacs) {
    for (int64_t i = 0; i < count; ++i) gemm(pool, spec(i));
    return;
  }
  if (macs * count < kSerialMacs) {
    for (int64_t i = 0; i < count; ++i) gemmSerial(spec(i), pool.workerScratch(0, 1));
    return;
  }
  pool.parallelFor(count, [&](int64_t i, int worker) { gemmSerial(spec(i), pool.workerScratch(worker, 1)); });
}

}  // namespace bk

namespace bk {
#define BK_STR2(x) #x
#define BK_STR(x) BK_STR2(x)
const char* eigenVersion() {
  return BK_STR(EIGEN_WORLD_VERSION) "." BK_STR(EIGEN_MAJOR_VERSION) "." BK_STR(EIGEN_MINOR_VERSION);
}
}  // namespace bk
