#include "vigil/matching/attention.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <thread>

#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>

#include "vigil/util/check.h"
#include "vigil/util/threads.h"

namespace vigil::glue {
namespace {

using ArrayMap = Eigen::Map<Eigen::ArrayXf>;
using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;

// Rows per attention work item: bounds the score buffer to kRowBlock x m floats per thread.
constexpr int64_t kRowBlock = 128;

void SoftmaxRow(float* x, int64_t n) {
  ArrayMap row(x, n);
  const float max = row.maxCoeff();
  row = (row - max).exp();
  row *= 1.0f / row.sum();
}

}  // namespace

void ParallelFor(int num_threads, int64_t n, int64_t min_chunk,
                 const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk));
  const int64_t chunks = std::min<int64_t>(std::max(1, num_threads), max_chunks);
  if (chunks == 1) {
    fn(0, n);
    return;
  }
  const int64_t per = (n + chunks - 1) / chunks;
  std::vector<std::thread> threads;
  for (int64_t c = 1; c < chunks; ++c) {
    const int64_t begin = c * per, end = std::min(n, begin + per);
    if (begin < end) threads.emplace_back(fn, begin, end);
  }
  fn(0, std::min(n, per));
  for (auto& t : threads) t.join();
}

ScopedSingleThreadedBlas::ScopedSingleThreadedBlas() : previous_(BlasThreads()) { SetBlasThreads(1); }

ScopedSingleThreadedBlas::~ScopedSingleThreadedBlas() { SetBlasThreads(previous_); }

void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int64_t i = 0; i < m; ++i) {
      ArrayMap row(c + i * ldc, n);
      row = beta == 0.f ? Eigen::ArrayXf::Zero(n) : Eigen::ArrayXf(row * beta);
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

void Linear::Forward(const float* x, int64_t n, int64_t ldx, float* y, int64_t ldy,
                     int num_threads) const {
  ParallelFor(num_threads, n, 64, [&](int64_t begin, int64_t end) {
    Gemm(false, true, end - begin, out, in, 1.f, x + begin * ldx, ldx, weight.data(), in, 0.f,
         y + begin * ldy, ldy);
    if (!bias.empty()) {
      const ConstArrayMap b(bias.data(), out);
      for (int64_t i = begin; i < end; ++i) ArrayMap(y + i * ldy, out) += b;
    }
  });
}

Linear LoadLinear(const io::StateDict& weights, const std::string& prefix, int64_t expected_out,
                  int64_t expected_in, bool has_bias) {
  const std::string key = prefix + ".weight";
  const nn::Tensor& w = weights.Get(key);
  const bool conv1d = w.dim() == 3 && w.shape[2] == 1;
  VIGIL_CHECK(w.dim() == 2 || conv1d,
              "{}: tensor '{}' has shape {}, expected [out, in] or [out, in, 1]", weights.source(),
              key, w.ShapeString());
  Linear linear;
  linear.out = w.shape[0];
  linear.in = w.shape[1];
  VIGIL_CHECK((expected_out <= 0 || linear.out == expected_out) &&
                  (expected_in <= 0 || linear.in == expected_in),
              "{}: tensor '{}' has shape {}, expected [{}, {}]", weights.source(), key,
              w.ShapeString(), expected_out, expected_in);
  linear.weight = w.data;
  if (has_bias) linear.bias = weights.Get(prefix + ".bias", {linear.out}).data;
  return linear;
}

void FoldBatchNorm(const io::StateDict& weights, const std::string& prefix, Linear* linear) {
  const std::vector<int64_t> shape = {linear->out};
  const auto& gamma = weights.Get(prefix + ".weight", shape).data;
  const auto& beta = weights.Get(prefix + ".bias", shape).data;
  const auto& mean = weights.Get(prefix + ".running_mean", shape).data;
  const auto& var = weights.Get(prefix + ".running_var", shape).data;
  if (linear->bias.empty()) linear->bias.assign(linear->out, 0.f);
  for (int64_t o = 0; o < linear->out; ++o) {
    // PyTorch's BatchNorm1d default eps; the official SuperGlue models use it.
    const float scale = gamma[o] / std::sqrt(var[o] + 1e-5f);
    for (int64_t i = 0; i < linear->in; ++i) linear->weight[o * linear->in + i] *= scale;
    linear->bias[o] = (linear->bias[o] - mean[o]) * scale + beta[o];
  }
}

Linear ConcatOutputs(const std::vector<Linear>& parts) {
  Linear fused;
  fused.in = parts.at(0).in;
  for (const Linear& p : parts) {
    VIGIL_CHECK(p.in == fused.in, "ConcatOutputs: input sizes differ ({} vs {})", p.in, fused.in);
    fused.out += p.out;
    fused.weight.insert(fused.weight.end(), p.weight.begin(), p.weight.end());
    std::vector<float> bias = p.bias.empty() ? std::vector<float>(p.out, 0.f) : p.bias;
    fused.bias.insert(fused.bias.end(), bias.begin(), bias.end());
  }
  return fused;
}

void MultiHeadAttention(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v,
                        int64_t ldv, int64_t n, int64_t m, int heads, int head_dim, float scale,
                        float* out, int64_t ldo, int num_threads) {
  if (n <= 0) return;
  VIGIL_CHECK(m > 0, "attention over zero keys");
  // Work items: (head, block of query rows); each computes its scores, softmax and output.
  const int64_t blocks = (n + kRowBlock - 1) / kRowBlock;
  ParallelFor(num_threads, heads * blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(std::min(kRowBlock, n) * m));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t h = item / blocks, r0 = (item % blocks) * kRowBlock;
      const int64_t rows = std::min(kRowBlock, n - r0);
      const int64_t c0 = h * head_dim;
      Gemm(false, true, rows, m, head_dim, scale, q + r0 * ldq + c0, ldq, k + c0, ldk, 0.f,
           scores.data(), m);
      for (int64_t r = 0; r < rows; ++r) SoftmaxRow(scores.data() + r * m, m);
      Gemm(false, false, rows, head_dim, m, 1.f, scores.data(), m, v + c0, ldv, 0.f,
           out + r0 * ldo + c0, ldo);
    }
  });
}

void BidirectionalAttention(const float* qk0, const float* qk1, const float* v0, const float* v1,
                            int64_t ld, int64_t n0, int64_t n1, int heads, int head_dim,
                            float scale, float* out0, float* out1, int64_t ldo, int num_threads) {
  VIGIL_CHECK(n0 > 0 && n1 > 0, "cross-attention needs keypoints in both images");
  // Fully overwritten below: no zero-fill (these are the largest buffers of a LightGlue layer).
  const size_t size = static_cast<size_t>(n0 * n1);
  const std::unique_ptr<float[]> sim_buffer(new float[size]), rows_buffer(new float[size]);
  float* const sim = sim_buffer.get();
  float* const rows = rows_buffer.get();
  for (int h = 0; h < heads; ++h) {
    const int64_t c0 = static_cast<int64_t>(h) * head_dim;
    // Similarity once; a row-softmaxed copy for image 0, column softmax in place for image 1.
    ParallelFor(num_threads, n0, 32, [&](int64_t begin, int64_t end) {
      Gemm(false, true, end - begin, n1, head_dim, scale, qk0 + begin * ld + c0, ld, qk1 + c0, ld,
           0.f, sim + begin * n1, n1);
      for (int64_t i = begin; i < end; ++i) {
        std::copy_n(sim + i * n1, n1, rows + i * n1);
        SoftmaxRow(rows + i * n1, n1);
      }
    });
    ParallelFor(num_threads, n1, 64, [&](int64_t begin, int64_t end) {
      const int64_t width = end - begin;
      Eigen::ArrayXf max = Eigen::ArrayXf::Constant(width, -std::numeric_limits<float>::infinity());
      for (int64_t i = 0; i < n0; ++i) max = max.max(ConstArrayMap(sim + i * n1 + begin, width));
      Eigen::ArrayXf sum = Eigen::ArrayXf::Zero(width);
      for (int64_t i = 0; i < n0; ++i) {
        ArrayMap s(sim + i * n1 + begin, width);
        s = (s - max).exp();
        sum += s;
      }
      const Eigen::ArrayXf inv = sum.inverse();
      for (int64_t i = 0; i < n0; ++i) ArrayMap(sim + i * n1 + begin, width) *= inv;
    });
    ParallelFor(num_threads, n0, 32, [&](int64_t begin, int64_t end) {
      Gemm(false, false, end - begin, head_dim, n1, 1.f, rows + begin * n1, n1, v1 + c0, ld,
           0.f, out0 + begin * ldo + c0, ldo);
    });
    ParallelFor(num_threads, n1, 32, [&](int64_t begin, int64_t end) {
      Gemm(true, false, end - begin, head_dim, n0, 1.f, sim + begin, n1, v0 + c0, ld, 0.f,
           out1 + begin * ldo + c0, ldo);
    });
  }
}

void ReluInPlace(float* x, int64_t n) {
  ArrayMap a(x, n);
  a = a.max(0.f);
}

void GeluInPlace(float* x, int64_t n) {
  ArrayMap a(x, n);
  a = 0.5f * a * (1.f + (a * static_cast<float>(M_SQRT1_2)).erf());
}

void SigmoidInPlace(float* x, int64_t n) {
  ArrayMap a(x, n);
  a = 1.f / (1.f + (-a).exp());
}

void LayerNormRows(float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta,
                   float eps) {
  const ConstArrayMap g(gamma, cols), b(beta, cols);
  for (int64_t r = 0; r < rows; ++r) {
    ArrayMap row(x + r * cols, cols);
    const float mean = row.mean();
    const float var = (row - mean).square().mean();
    row = (row - mean) * (1.f / std::sqrt(var + eps)) * g + b;
  }
}

float LogSigmoid(float x) { return std::min(x, 0.f) - std::log1p(std::exp(-std::abs(x))); }

void LogSinkhorn(float* z, int64_t rows, int64_t cols, const float* log_mu, const float* log_nu,
                 int iterations, int num_threads) {
  std::vector<float> u(rows, 0.f), v(cols, 0.f);
  // After a row update, z_ij + u_i + v_j <= log mu_i for every j (the row's mass is mu_i), so
  // -v_j + max(log mu) bounds column j of z + u from above; likewise after a column update
  // -u_i + max(log nu) bounds row i of z + v. With that bound as the log-sum-exp offset the max
  // pass is not needed: one exp pass per update. A row or column whose sum underflows (its true
  // maximum far below the bound, possible in the first iterations) is redone exactly.
  const float max_log_mu = *std::max_element(log_mu, log_mu + rows);
  const float max_log_nu = *std::max_element(log_nu, log_nu + cols);
  constexpr float kTiny = 1e-30f;
  auto exact_row = [&](int64_t i) {
    const ConstArrayMap row(z + i * cols, cols), vv(v.data(), cols);
    const float max = (row + vv).maxCoeff();
    u[i] = log_mu[i] - (max + std::log((row + vv - max).exp().sum()));
  };
  auto exact_column = [&](int64_t j) {
    float max = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < rows; ++i) max = std::max(max, z[i * cols + j] + u[i]);
    float sum = 0.f;
    for (int64_t i = 0; i < rows; ++i) sum += std::exp(z[i * cols + j] + u[i] - max);
    v[j] = log_nu[j] - (max + std::log(sum));
  };
  // Column ranges per thread, each swept over all rows so the inner loop stays contiguous.
  auto update_columns = [&](int64_t begin, int64_t end) {
    const int64_t width = end - begin;
    const ArrayMap vj(v.data() + begin, width);
    const Eigen::ArrayXf offset = vj - max_log_mu;  // minus the bound
    Eigen::ArrayXf sum = Eigen::ArrayXf::Zero(width);
    for (int64_t i = 0; i < rows; ++i) {
      sum += (ConstArrayMap(z + i * cols + begin, width) + offset + u[i]).exp();
    }
    for (int64_t k = 0; k < width; ++k) {
      if (sum[k] > kTiny && std::isfinite(sum[k])) {
        v[begin + k] = log_nu[begin + k] - (std::log(sum[k]) - offset[k]);
      } else {
        exact_column(begin + k);
      }
    }
  };
  auto update_rows = [&](int64_t begin, int64_t end, bool bounded) {
    const ConstArrayMap vv(v.data(), cols);
    for (int64_t i = begin; i < end; ++i) {
      if (bounded) {
        const float bound = max_log_nu - u[i];
        const float sum = (ConstArrayMap(z + i * cols, cols) + vv - bound).exp().sum();
        if (sum > kTiny && std::isfinite(sum)) {
          u[i] = log_mu[i] - (bound + std::log(sum));
          continue;
        }
      }
      exact_row(i);
    }
  };
  for (int it = 0; it < iterations; ++it) {
    // The first row update has no column update before it, hence no bound.
    ParallelFor(num_threads, rows, 64,
                [&](int64_t begin, int64_t end) { update_rows(begin, end, it > 0); });
    ParallelFor(num_threads, cols, 64, update_columns);
  }
  ParallelFor(num_threads, rows, 64, [&](int64_t begin, int64_t end) {
    const ConstArrayMap vv(v.data(), cols);
    for (int64_t i = begin; i < end; ++i) ArrayMap(z + i * cols, cols) += vv + u[i];
  });
}

MutualMatches ExtractMutualMatches(const float* log_assignment, int64_t rows, int64_t cols,
                                   int64_t ld, float threshold) {
  MutualMatches out;
  out.matches0.assign(rows, -1);
  out.matches1.assign(cols, -1);
  out.scores0.assign(rows, 0.f);
  out.scores1.assign(cols, 0.f);
  if (rows == 0 || cols == 0) return out;
  std::vector<int> best0(rows), best1(cols, 0);
  std::vector<float> max0(rows), max1(cols, -std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < rows; ++i) {
    const float* row = log_assignment + i * ld;
    int best = 0;
    for (int64_t j = 1; j < cols; ++j) {
      if (row[j] > row[best]) best = static_cast<int>(j);
    }
    best0[i] = best;
    max0[i] = row[best];
    for (int64_t j = 0; j < cols; ++j) {
      if (row[j] > max1[j]) {
        max1[j] = row[j];
        best1[j] = static_cast<int>(i);
      }
    }
  }
  std::vector<uint8_t> valid0(rows, 0);
  for (int64_t i = 0; i < rows; ++i) {
    if (best1[best0[i]] != i) continue;  // not mutual
    out.scores0[i] = std::exp(max0[i]);
    valid0[i] = out.scores0[i] > threshold;
    if (valid0[i]) out.matches0[i] = best0[i];
  }
  for (int64_t j = 0; j < cols; ++j) {
    const int i = best1[j];
    if (best0[i] != j) continue;
    out.scores1[j] = out.scores0[i];
    if (valid0[i]) out.matches1[j] = i;
  }
  return out;
}

}  // namespace vigil::glue
