// Building blocks shared by the learned matchers (SuperGlue, LightGlue): linear layers read from
// PyTorch state_dicts, multi-head attention, the row/column softmaxes, log-domain Sinkhorn and the
// mutual-max match extraction of both reference implementations.
//
// Layout: every token matrix is row-major, one keypoint per row (N x D), so a PyTorch
// nn.Linear / kernel-size-1 Conv1d is one GEMM  Y = X W^T + b  with W as stored (out x in).
// Parallelism: the matchers split rows (or heads x row blocks) across `num_threads` threads and
// call single-threaded sgemm from each (ScopedSingleThreadedBlas), so softmax/exp work is
// parallel too and there is one thread pool, not two fighting for the cores.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vigil/io/torch_checkpoint.h"

namespace vigil::glue {

// Runs fn(begin, end) on [0, n) split into at most `num_threads` contiguous chunks of at least
// `min_chunk` items, one thread per chunk (the caller runs the first chunk).
void ParallelFor(int num_threads, int64_t n, int64_t min_chunk,
                 const std::function<void(int64_t, int64_t)>& fn);

// Makes OpenBLAS single-threaded while it lives and restores the previous count afterwards. The
// matchers parallelise themselves (see above); OpenBLAS keeps this setting process-wide.
class ScopedSingleThreadedBlas {
 public:
  ScopedSingleThreadedBlas();
  ~ScopedSingleThreadedBlas();
  ScopedSingleThreadedBlas(const ScopedSingleThreadedBlas&) = delete;
  ScopedSingleThreadedBlas& operator=(const ScopedSingleThreadedBlas&) = delete;

 private:
  int previous_ = 1;
};

// Row-major C (m x n) = alpha * op(A) * op(B) + beta * C through cblas_sgemm (calling thread).
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// y = x W^T + b: a PyTorch nn.Linear, or a Conv1d with kernel size 1 (weight [out, in, 1]).
struct Linear {
  int64_t in = 0;
  int64_t out = 0;
  std::vector<float> weight;  // out x in, row-major
  std::vector<float> bias;    // out values, or empty (no bias)

  // x: n x in (row stride ldx), y: n x out (row stride ldy); rows split across threads.
  void Forward(const float* x, int64_t n, int64_t ldx, float* y, int64_t ldy,
               int num_threads) const;
};

// Reads `<prefix>.weight` ([out, in] or [out, in, 1]) and `<prefix>.bias` (when has_bias).
// Missing tensors and wrong shapes throw vigil::Error naming the file and key; expected_in /
// expected_out (when > 0) are checked too.
Linear LoadLinear(const io::StateDict& weights, const std::string& prefix, int64_t expected_out = -1,
                  int64_t expected_in = -1, bool has_bias = true);

// Folds an inference-mode BatchNorm1d (`<prefix>.weight/bias/running_mean/running_var`, eps 1e-5)
// that follows `linear` into its weights and bias.
void FoldBatchNorm(const io::StateDict& weights, const std::string& prefix, Linear* linear);

// One Linear whose outputs are the parts' outputs side by side (same input): fused q/k/v or
// qk/v projections, one GEMM instead of several. A part without bias contributes zeros.
Linear ConcatOutputs(const std::vector<Linear>& parts);

// Multi-head scaled dot-product attention, heads in contiguous channel blocks (head h = channels
// [h*head_dim, (h+1)*head_dim)): out_i = sum_j softmax_j(scale * q_i . k_j) v_j per head.
// q: n rows (stride ldq), k and v: m rows; out: n x heads*head_dim (stride ldo). m must be > 0.
void MultiHeadAttention(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v,
                        int64_t ldv, int64_t n, int64_t m, int heads, int head_dim, float scale,
                        float* out, int64_t ldo, int num_threads);

// LightGlue's bidirectional cross-attention: one similarity S = scale * qk0 qk1^T per head,
// out0 = softmax_rows(S) v1 and out1 = softmax_cols(S)^T v0. n0, n1 must be > 0.
void BidirectionalAttention(const float* qk0, const float* qk1, const float* v0, const float* v1,
                            int64_t ld, int64_t n0, int64_t n1, int heads, int head_dim,
                            float scale, float* out0, float* out1, int64_t ldo, int num_threads);

// In-place elementwise activations and normalisations (vectorised through Eigen).
void ReluInPlace(float* x, int64_t n);
void GeluInPlace(float* x, int64_t n);  // exact (erf) GELU, as torch.nn.GELU()
void SigmoidInPlace(float* x, int64_t n);
// LayerNorm over each row of a rows x cols matrix (biased variance), then * gamma + beta.
void LayerNormRows(float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta,
                   float eps);
float LogSigmoid(float x);

// Log-domain Sinkhorn (SuperGlue's log_sinkhorn_iterations): z (rows x cols, row-major) becomes
// z + u 1^T + 1 v^T with u, v from `iterations` alternating row/column logsumexp updates.
void LogSinkhorn(float* z, int64_t rows, int64_t cols, const float* log_mu, const float* log_nu,
                 int iterations, int num_threads);

// The mutual-max match extraction shared by SuperGlue and LightGlue (filter_matches): on the
// top-left rows x cols block of a log-assignment matrix (row stride ld), i and j match when each
// is the other's row/column maximum; scores are exp(max) for mutual pairs (0 otherwise), and
// matches with score <= threshold are dropped.
struct MutualMatches {
  std::vector<int> matches0, matches1;  // -1 = none
  std::vector<float> scores0, scores1;  // the reference's matching_scores (before the threshold)
};
MutualMatches ExtractMutualMatches(const float* log_assignment, int64_t rows, int64_t cols,
                                   int64_t ld, float threshold);

}  // namespace vigil::glue
