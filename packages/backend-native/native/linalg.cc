// The factorization kernels in float64 on Eigen 3.4: batched Cholesky solves (LLT), the symmetric
// eigendecomposition (SelfAdjointEigenSolver) and the truncated SVD (the CPU reference's method: eigenvectors
// of the small Gram matrix, the other side recovered and re-orthonormalized).
//
// Compiled with -ffp-contract=off: where a Cholesky pivot fails, the error names its value exactly as the CPU
// reference computes it, which needs the same operations in the same order with the same roundings.

#define EIGEN_DONT_PARALLELIZE
#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <limits>

#include "common.h"

namespace bk {
namespace {

using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// ---- the CPU reference's Cholesky (core/src/cpu/kernels/cholesky-solve.ts), operation for operation --------

int64_t referenceFactor(double* a, int64_t r) {
  for (int64_t j = 0; j < r; ++j) {
    const int64_t rowJ = j * r;
    double pivot = a[rowJ + j];
    for (int64_t k = 0; k < j; ++k) pivot -= a[rowJ + k] * a[rowJ + k];
    if (!(pivot > 0) || pivot == std::numeric_limits<double>::infinity()) return j;
    const double ljj = std::sqrt(pivot);
    a[rowJ + j] = ljj;
    const double inv = 1 / ljj;
    for (int64_t i = j + 1; i < r; ++i) {
      const int64_t rowI = i * r;
      double s = a[rowI + j];
      for (int64_t k = 0; k < j; ++k) s -= a[rowI + k] * a[rowJ + k];
      a[rowI + j] = s * inv;
    }
  }
  return -1;
}

double referencePivotValue(const double* factor, int64_t r, int64_t j) {
  double pivot = factor[j * r + j];
  for (int64_t k = 0; k < j; ++k) pivot -= factor[j * r + k] * factor[j * r + k];
  return pivot;
}

void referenceSubstitute(const double* factor, int64_t r, double* b, int64_t c) {
  for (int64_t i = 0; i < r; ++i) {
    for (int64_t k = 0; k < i; ++k) {
      const double l = factor[i * r + k];
      if (l == 0) continue;
      for (int64_t j = 0; j < c; ++j) b[i * c + j] -= l * b[k * c + j];
    }
    const double inv = 1 / factor[i * r + i];
    for (int64_t j = 0; j < c; ++j) b[i * c + j] *= inv;
  }
  for (int64_t i = r - 1; i >= 0; --i) {
    for (int64_t k = i + 1; k < r; ++k) {
      const double l = factor[k * r + i];
      if (l == 0) continue;
      for (int64_t j = 0; j < c; ++j) b[i * c + j] -= l * b[k * c + j];
    }
    const double inv = 1 / factor[i * r + i];
    for (int64_t j = 0; j < c; ++j) b[i * c + j] *= inv;
  }
}

// Solves one system; returns the failing pivot (and its value) or -1.
int64_t solveOne(const float* A, const float* B, float* X, int64_t r, int64_t c, double* value) {
  MatD a(r, r);
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j <= i; ++j) a(i, j) = A[i * r + j];
  Eigen::LLT<Eigen::Ref<MatD>, Eigen::Lower> llt(a);
  bool ok = llt.info() == Eigen::Success;
  for (int64_t i = 0; ok && i < r; ++i) ok = std::isfinite(a(i, i)) && a(i, i) > 0;
  MatD rhs(r, c);
  for (int64_t i = 0; i < r * c; ++i) rhs.data()[i] = B[i];
  if (ok) {
    llt.solveInPlace(rhs);
  } else {
    // Eigen gave up (or let a NaN through): the reference's own factorization decides and names the pivot
    MatD f(r, r);
    for (int64_t i = 0; i < r * r; ++i) f.data()[i] = A[i];
    const int64_t bad = referenceFactor(f.data(), r);
    if (bad >= 0) {
      *value = referencePivotValue(f.data(), r, bad);
      return bad;
    }
    referenceSubstitute(f.data(), r, rhs.data(), c);
  }
  for (int64_t i = 0; i < r * c; ++i) X[i] = static_cast<float>(rhs.data()[i]);
  return -1;
}

// Index of the entry of largest magnitude (compared after rounding to float32, first on ties), as the
// reference's largestMagnitudeIndex.
int64_t largestMagnitudeIndex(const double* data, int64_t stride, int64_t length) {
  int64_t best = 0;
  float bestMagnitude = -1;
  for (int64_t i = 0; i < length; ++i) {
    const float magnitude = static_cast<float>(std::fabs(data[i * stride]));
    if (magnitude > bestMagnitude) {
      bestMagnitude = magnitude;
      best = i;
    }
  }
  return best;
}

double vectorNorm(const double* y, int64_t len) {
  double s = 0;
  for (int64_t i = 0; i < len; ++i) s += y[i] * y[i];
  return std::sqrt(s);
}

// The reference's orthonormalizeAgainst: modified Gram–Schmidt, repeated while a pass cancels most of y.
bool orthonormalizeAgainst(const double* basis, int64_t count, double* y, int64_t len) {
  double norm = vectorNorm(y, len);
  for (int pass = 0; pass < 4 && norm > 0; ++pass) {
    for (int64_t b = 0; b < count; ++b) {
      const double* v = basis + b * len;
      double dot = 0;
      for (int64_t i = 0; i < len; ++i) dot += v[i] * y[i];
      for (int64_t i = 0; i < len; ++i) y[i] -= dot * v[i];
    }
    const double before = norm;
    norm = vectorNorm(y, len);
    if (norm > 0.5 * before) {
      const double inv = 1 / norm;
      for (int64_t i = 0; i < len; ++i) y[i] *= inv;
      return true;
    }
  }
  return false;
}

}  // namespace

PivotFailure choleskySolve(ThreadPool& pool, const float* A, const float* B, float* X, int64_t batch, int64_t r,
                           int64_t c) {
  std::vector<int64_t> pivots(static_cast<size_t>(batch), -1);
  std::vector<double> values(static_cast<size_t>(batch), 0);
  auto one = [&](int64_t s, int) {
    pivots[s] = solveOne(A + s * r * r, B + s * r * c, X + s * r * c, r, c, &values[s]);
  };
  const double work = static_cast<double>(batch) * r * r * (r + c);
  if (batch > 1 && work > 1e6)
    pool.parallelFor(batch, one);
  else
    for (int64_t s = 0; s < batch; ++s) one(s, 0);
  PivotFailure failure;
  for (int64_t s = 0; s < batch; ++s) {
    if (pivots[s] >= 0) {
      failure.system = s;
      failure.pivot = pivots[s];
      failure.value = values[s];
      break;
    }
  }
  return failure;
}

void eigh(const float* A, int64_t n, float* values, float* vectors) {
  if (n == 0) return;
  MatD a(n, n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j <= i; ++j) a(i, j) = A[i * n + j];
  // SelfAdjointEigenSolver reads the lower triangle only; eigenvalues come out ascending
  Eigen::SelfAdjointEigenSolver<MatD> solver(a, Eigen::ComputeEigenvectors);
  if (solver.info() != Eigen::Success) throw Error("eigh: the eigenvalue iteration did not converge");
  const auto& vals = solver.eigenvalues();
  const MatD vecs = solver.eigenvectors();
  for (int64_t col = 0; col < n; ++col) {
    values[col] = static_cast<float>(vals(col));
    const double* column = vecs.data() + col;
    const double sign = column[largestMagnitudeIndex(column, n, n) * n] < 0 ? -1.0 : 1.0;
    for (int64_t k = 0; k < n; ++k) vectors[k * n + col] = static_cast<float>(sign * column[k * n]);
  }
}

void truncatedSvd(const float* A, int64_t m, int64_t n, int64_t k, float* U, float* S, float* V) {
  // X = A or Aᵀ, whichever has fewer columns (`inner`), so the Gram matrix XᵀX is the small one
  const bool tall = m >= n;
  const int64_t outer = tall ? m : n;
  const int64_t inner = tall ? n : m;
  MatD x(outer, inner);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      if (tall)
        x(i, j) = A[i * n + j];
      else
        x(j, i) = A[i * n + j];
    }
  MatD gram(inner, inner);
  gram.noalias() = x.transpose() * x;
  Eigen::SelfAdjointEigenSolver<MatD> solver(gram, Eigen::ComputeEigenvectors);
  if (solver.info() != Eigen::Success) throw Error("truncatedSvd: the eigenvalue iteration did not converge");
  const auto& values = solver.eigenvalues();
  const MatD& vectors = solver.eigenvectors();

  std::vector<double> sigma(static_cast<size_t>(k));
  std::vector<double> innerVectors(static_cast<size_t>(k * inner));  // vector t at t·inner
  for (int64_t t = 0; t < k; ++t) {
    const int64_t src = inner - 1 - t;
    sigma[t] = std::sqrt(std::max(values(src), 0.0));
    for (int64_t i = 0; i < inner; ++i) innerVectors[t * inner + i] = vectors(i, src);
  }

  // the other side: X·v, made orthonormal; where σ ≈ 0 or X·v falls into the span found so far, the first
  // independent unit vectors complete the basis (deterministic, as the reference)
  std::vector<double> outerVectors(static_cast<size_t>(k * outer), 0.0);
  const double negligible = 1e-12 * sigma[0];
  int64_t nextUnitVector = 0;
  for (int64_t t = 0; t < k; ++t) {
    double* y = outerVectors.data() + t * outer;
    bool recovered = false;
    if (sigma[t] > negligible) {
      Eigen::Map<Eigen::VectorXd> yv(y, outer);
      Eigen::Map<const Eigen::VectorXd> vv(innerVectors.data() + t * inner, inner);
      yv.noalias() = x * vv;
      recovered = orthonormalizeAgainst(outerVectors.data(), t, y, outer);
    }
    for (int64_t tries = 0; !recovered && tries < outer; ++tries) {
      std::fill(y, y + outer, 0.0);
      y[nextUnitVector] = 1;
      nextUnitVector = (nextUnitVector + 1) % outer;
      recovered = orthonormalizeAgainst(outerVectors.data(), t, y, outer);
    }
  }

  const double* uSide = tall ? outerVectors.data() : innerVectors.data();
  const double* vSide = tall ? innerVectors.data() : outerVectors.data();
  for (int64_t t = 0; t < k; ++t) {
    const double* vt = vSide + t * n;
    const double sign = vt[largestMagnitudeIndex(vt, 1, n)] < 0 ? -1.0 : 1.0;
    for (int64_t i = 0; i < m; ++i) U[i * k + t] = static_cast<float>(sign * uSide[t * m + i]);
    for (int64_t i = 0; i < n; ++i) V[i * k + t] = static_cast<float>(sign * vt[i]);
    S[t] = static_cast<float>(sigma[t]);
  }
}

}  // namespace bk
