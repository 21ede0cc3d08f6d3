#include "vigil/nn/gemm.h"

#include <cblas.h>

#include "vigil/util/check.h"
#include "vigil/util/threads.h"

namespace vigil::nn {

void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  VIGIL_CHECK(m >= 0 && n >= 0 && k >= 0, "Gemm: negative size m={} n={} k={}", m, n, k);
  if (m == 0 || n == 0) return;
  VIGIL_CHECK(lda >= (trans_a ? m : k) && ldb >= (trans_b ? k : n) && ldc >= n,
              "Gemm: leading dimension too small (m={} n={} k={} lda={} ldb={} ldc={})", m, n, k,
              lda, ldb, ldc);
  if (k == 0) {
    // BLAS would do the same, but some builds read A/B anyway; keep the contract explicit.
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.f ? 0.f : beta * c[i * ldc + j];
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(m),
              static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c,
              static_cast<blasint>(ldc));
}

void MatMul(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
            const float* b, float* c, bool accumulate) {
  Gemm(trans_a, trans_b, m, n, k, 1.f, a, trans_a ? m : k, b, trans_b ? k : n,
       accumulate ? 1.f : 0.f, c, n);
}

void SetNumThreads(int num_threads) {
  SetBlasThreads(num_threads);
}

int NumThreads() { return openblas_get_num_threads(); }

}  // namespace vigil::nn
