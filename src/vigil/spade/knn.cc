#include "vigil/spade/knn.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>

#include <cblas.h>

#include "vigil/util/check.h"
#include "vigil/util/threads.h"

namespace vigil::spade {
namespace {

// Keeps the k smallest (value, index) pairs seen so far, sorted ascending; k is small (1..50),
// so insertion into a sorted array beats a heap.
struct TopK {
  int k;
  float* values;
  int32_t* indices;
  void Init() {
    std::fill(values, values + k, std::numeric_limits<float>::infinity());
    std::fill(indices, indices + k, -1);
  }
  void Push(float value, int32_t index) {
    if (!(value < values[k - 1])) return;
    int pos = k - 1;
    while (pos > 0 && values[pos - 1] > value) {
      values[pos] = values[pos - 1];
      indices[pos] = indices[pos - 1];
      --pos;
    }
    values[pos] = value;
    indices[pos] = index;
  }
};

// Folds one row of GEMM dot products (query i against gallery rows g0 .. g0+gn-1) into the
// query's top-k of squared distances ||q||^2 + ||g||^2 - 2 q.g.
void ScanRow(TopK& top, float qn2, const float* dots, const float* gnorm, int64_t g0, int64_t gn) {
  if (top.k == 1) {
    // Two passes: a vectorised min (the query's own norm does not change the argmin), then
    // the index, searched only when this block improves on the best so far.
    float block_min = std::numeric_limits<float>::infinity();
#pragma omp simd reduction(min : block_min)
    for (int64_t j = 0; j < gn; ++j) block_min = std::min(block_min, gnorm[j] - 2.f * dots[j]);
    if (qn2 + block_min < top.values[0]) {
      for (int64_t j = 0; j < gn; ++j) {
        if (gnorm[j] - 2.f * dots[j] == block_min) {
          top.values[0] = qn2 + block_min;
          top.indices[0] = static_cast<int32_t>(g0 + j);
          break;
        }
      }
    }
    return;
  }
  for (int64_t j = 0; j < gn; ++j) {
    top.Push(qn2 + gnorm[j] - 2.f * dots[j], static_cast<int32_t>(g0 + j));
  }
}

void SquaredNorms(const float* rows, int64_t n, int dim, std::vector<float>& norms) {
  norms.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float* r = rows + i * dim;
    double s = 0;
    for (int d = 0; d < dim; ++d) s += static_cast<double>(r[d]) * r[d];
    norms[static_cast<size_t>(i)] = static_cast<float>(s);
  }
}

void CheckArguments(int64_t nq, int64_t ng, int dim, int k) {
  VIGIL_CHECK(dim >= 1, "kNN: feature dimension must be >= 1, got {}", dim);
  VIGIL_CHECK(nq >= 0, "kNN: negative query count");
  VIGIL_CHECK(k >= 1 && k <= ng, "kNN: k = {} needs 1 <= k <= gallery size {}", k, ng);
}

}  // namespace

void KnnOptions::Check() const {
  VIGIL_CHECK_OPTION(query_block >= 1, "knn.query_block", "must be >= 1");
  VIGIL_CHECK_OPTION(gallery_block >= 1, "knn.gallery_block", "must be >= 1");
  VIGIL_CHECK_OPTION(num_threads >= 1, "knn.num_threads", "must be >= 1");
}

float L2Distance(const float* a, const float* b, int dim) {
  double s = 0;
  for (int d = 0; d < dim; ++d) {
    const double diff = static_cast<double>(a[d]) - b[d];
    s += diff * diff;
  }
  return static_cast<float>(std::sqrt(s));
}

KnnResult ExactKnn(const float* query, int64_t nq, const float* gallery, int64_t ng, int dim, int k,
                   const KnnOptions& options) {
  options.Check();
  CheckArguments(nq, ng, dim, k);
  KnnResult result;
  result.k = k;
  result.distances.resize(static_cast<size_t>(nq) * k);
  result.indices.resize(static_cast<size_t>(nq) * k);
  std::vector<float> query_norms, gallery_norms;
  SquaredNorms(query, nq, dim, query_norms);
  SquaredNorms(gallery, ng, dim, gallery_norms);
  const int64_t qb = std::min<int64_t>(options.query_block, std::max<int64_t>(nq, 1));
  const int64_t gb = std::min<int64_t>(options.gallery_block, ng);
  const int64_t num_blocks = (nq + qb - 1) / qb;
  // Threads split the query blocks and each runs single-threaded GEMMs: one join per call
  // instead of OpenBLAS's synchronisation inside every small GEMM, which measured 2x slower on
  // a loaded 2-core machine.
  const int workers = static_cast<int>(std::min<int64_t>(options.num_threads, num_blocks));
  SetBlasThreads(1);
  auto work = [&](int worker) {
    std::vector<float> dots(static_cast<size_t>(qb * gb));
    for (int64_t block = worker; block < num_blocks; block += workers) {
      const int64_t q0 = block * qb;
      const int64_t qn = std::min(qb, nq - q0);
      for (int64_t i = 0; i < qn; ++i) {
        TopK{k, &result.distances[(q0 + i) * k], &result.indices[(q0 + i) * k]}.Init();
      }
      for (int64_t g0 = 0; g0 < ng; g0 += gb) {
        const int64_t gn = std::min(gb, ng - g0);
        // dots = Q_block * G_block^T (qn x gn)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(qn),
                    static_cast<int>(gn), dim, 1.f, query + q0 * dim, dim, gallery + g0 * dim, dim,
                    0.f, dots.data(), static_cast<int>(gn));
        for (int64_t i = 0; i < qn; ++i) {
          TopK top{k, &result.distances[(q0 + i) * k], &result.indices[(q0 + i) * k]};
          ScanRow(top, query_norms[q0 + i], dots.data() + i * gn, gallery_norms.data() + g0, g0,
                  gn);
        }
      }
    }
  };
  if (workers <= 1) {
    work(0);
  } else {
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) threads.emplace_back(work, w);
    for (std::thread& t : threads) t.join();
  }
  // Exact distances for the winners; re-sort in case the GEMM rounding swapped near-ties.
  std::vector<std::pair<float, int32_t>> row(k);
  for (int64_t i = 0; i < nq; ++i) {
    for (int j = 0; j < k; ++j) {
      const int32_t g = result.indices[i * k + j];
      row[j] = {L2Distance(query + i * dim, gallery + static_cast<int64_t>(g) * dim, dim), g};
    }
    std::sort(row.begin(), row.end());
    for (int j = 0; j < k; ++j) {
      result.distances[i * k + j] = row[j].first;
      result.indices[i * k + j] = row[j].second;
    }
  }
  return result;
}

KnnResult NaiveKnn(const float* query, int64_t nq, const float* gallery, int64_t ng, int dim,
                   int k) {
  CheckArguments(nq, ng, dim, k);
  KnnResult result;
  result.k = k;
  result.distances.resize(static_cast<size_t>(nq) * k);
  result.indices.resize(static_cast<size_t>(nq) * k);
  for (int64_t i = 0; i < nq; ++i) {
    TopK top{k, &result.distances[i * k], &result.indices[i * k]};
    top.Init();
    for (int64_t j = 0; j < ng; ++j) {
      top.Push(L2Distance(query + i * dim, gallery + j * dim, dim), static_cast<int32_t>(j));
    }
  }
  return result;
}

}  // namespace vigil::spade
