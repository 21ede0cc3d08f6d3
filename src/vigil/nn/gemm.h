// Matrix products for vigil's CPU inference core: a row-major wrapper around OpenBLAS's
// cblas_sgemm, and the thread-count setting. Attention layers, linear layers and convolutions
// (through im2col) all end up here, so this is where the time goes.
#pragma once

#include <cstdint>

namespace vigil::nn {

// C (m x n) = alpha * op(A) * op(B) + beta * C, all row-major. op(A) is m x k: A is m x k
// (lda >= k) or, with trans_a, k x m (lda >= m); op(B) is k x n: B is k x n (ldb >= n) or,
// with trans_b, n x k (ldb >= k). ldc >= n. m, n or k == 0 is allowed (k == 0 scales C by beta).
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Shorthand for contiguous operands: C = op(A) * op(B) (+ C when accumulate).
void MatMul(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
            const float* b, float* c, bool accumulate = false);

// Sets how many threads OpenBLAS uses for the GEMMs that follow (>= 1). OpenBLAS keeps this
// process-wide; vigil holds no copy of it. Each network sets it from its options at the start of
// every forward pass (e.g. FeatureExtractorOptions::num_threads), so the last caller wins.
void SetNumThreads(int num_threads);
// The thread count OpenBLAS currently uses.
int NumThreads();

}  // namespace vigil::nn
