#include "vigil/nn/gemm.h"

#include <gtest/gtest.h>

#include "vigil/nn/test_util.h"
#include "vigil/util/check.h"

namespace vigil::nn {
namespace {

// Plain triple loop: C = alpha op(A) op(B) + beta C.
void NaiveGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p) {
        s += static_cast<double>(ta ? a[p * lda + i] : a[i * lda + p]) *
             (tb ? b[j * ldb + p] : b[p * ldb + j]);
      }
      c[i * ldc + j] = static_cast<float>(alpha * s + (beta == 0.f ? 0.0 : beta * c[i * ldc + j]));
    }
  }
}

TEST(Gemm, MatchesNaiveForAllTransposesAndStrides) {
  for (uint32_t seed = 1; seed <= 16; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937 rng(seed);
    const int64_t m = 1 + rng() % 37, n = 1 + rng() % 41, k = 1 + rng() % 53;
    const bool ta = seed & 1, tb = seed & 2;
    const int64_t pad = seed % 3;  // leading dimensions larger than the rows
    const int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
    const Tensor a = test_util::RandomTensor({(ta ? k : m) * lda}, seed);
    const Tensor b = test_util::RandomTensor({(tb ? n : k) * ldb}, seed + 100);
    Tensor c = test_util::RandomTensor({m * ldc}, seed + 200);
    Tensor expected = c;
    const float alpha = 0.5f + seed % 2, beta = (seed % 4) * 0.5f;
    NaiveGemm(ta, tb, m, n, k, alpha, a.ptr(), lda, b.ptr(), ldb, beta, expected.ptr(), ldc);
    Gemm(ta, tb, m, n, k, alpha, a.ptr(), lda, b.ptr(), ldb, beta, c.ptr(), ldc);
    EXPECT_LT(test_util::MaxAbsDiff(c.data, expected.data), 1e-4f);
  }
}

TEST(Gemm, MatMulContiguous) {
  // [1 2; 3 4] * [5 6; 7 8] = [19 22; 43 50]; transposed B gives [17 23; 39 53].
  const float a[] = {1, 2, 3, 4}, b[] = {5, 6, 7, 8};
  float c[4];
  MatMul(false, false, 2, 2, 2, a, b, c);
  EXPECT_FLOAT_EQ(c[0], 19);
  EXPECT_FLOAT_EQ(c[1], 22);
  EXPECT_FLOAT_EQ(c[2], 43);
  EXPECT_FLOAT_EQ(c[3], 50);
  MatMul(false, true, 2, 2, 2, a, b, c);
  EXPECT_FLOAT_EQ(c[0], 17);
  EXPECT_FLOAT_EQ(c[1], 23);
  EXPECT_FLOAT_EQ(c[2], 39);
  EXPECT_FLOAT_EQ(c[3], 53);
  MatMul(false, true, 2, 2, 2, a, b, c, /*accumulate=*/true);
  EXPECT_FLOAT_EQ(c[3], 106);
}

TEST(Gemm, ZeroInnerDimensionScalesByBeta) {
  float c[2] = {3.f, 4.f};
  Gemm(false, false, 1, 2, 0, 1.f, nullptr, 1, nullptr, 2, 2.f, c, 2);
  EXPECT_FLOAT_EQ(c[0], 6.f);
  EXPECT_FLOAT_EQ(c[1], 8.f);
}

TEST(Gemm, RejectsBadLeadingDimension) {
  float a[4] = {}, b[4] = {}, c[4] = {};
  EXPECT_THROW(Gemm(false, false, 2, 2, 2, 1.f, a, 1, b, 2, 0.f, c, 2), Error);
}

TEST(Gemm, ThreadCountRoundTrips) {
  const int before = NumThreads();
  SetNumThreads(1);
  EXPECT_EQ(NumThreads(), 1);
  SetNumThreads(before);
  EXPECT_EQ(NumThreads(), before);
  EXPECT_THROW(SetNumThreads(0), Error);
}

}  // namespace
}  // namespace vigil::nn
