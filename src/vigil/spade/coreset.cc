#include "vigil/spade/coreset.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include <cblas.h>

#include "vigil/spade/knn.h"
#include "vigil/util/check.h"
#include "vigil/util/threads.h"

namespace vigil::spade {

std::vector<int64_t> GreedyCoreset(const float* features, int64_t n, int dim, int64_t count,
                                   const CoresetOptions& options, const CancelToken* cancel) {
  VIGIL_CHECK(n >= 1 && dim >= 1, "coreset: empty feature set");
  VIGIL_CHECK(count >= 1 && count <= n, "coreset: cannot select {} of {} points", count, n);
  std::mt19937_64 rng(options.seed);
  // Optional random projection (entries N(0, 1/p)); distances in the projection approximate
  // the original ones up to a factor close to 1.
  std::vector<float> projected;
  const float* points = features;
  int pdim = dim;
  if (options.projection_dim > 0 && options.projection_dim < dim) {
    pdim = options.projection_dim;
    std::normal_distribution<float> normal(0.f, 1.f / std::sqrt(static_cast<float>(pdim)));
    std::vector<float> matrix(static_cast<size_t>(dim) * pdim);
    for (float& v : matrix) v = normal(rng);
    projected.resize(static_cast<size_t>(n) * pdim);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n), pdim, dim, 1.f,
                features, dim, matrix.data(), pdim, 0.f, projected.data(), pdim);
    points = projected.data();
  }
  // ||p - c||^2 = ||p||^2 + ||c||^2 - 2 p.c with p.c for all points from one sgemv per step:
  // the per-step cost is one pass over the (projected) features at memory bandwidth.
  std::vector<float> norms(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float* p = points + i * pdim;
    double s = 0;
    for (int d = 0; d < pdim; ++d) s += static_cast<double>(p[d]) * p[d];
    norms[i] = static_cast<float>(s);
  }
  std::vector<float> dots(static_cast<size_t>(n));
  SetBlasThreads(options.num_threads);
  std::vector<int64_t> selected;
  selected.reserve(static_cast<size_t>(count));
  int64_t next = static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
  // Squared distance to the nearest selected point; -1 marks selected points so that exact
  // duplicates (distance 0) can still be picked as distinct indices.
  std::vector<float> nearest(static_cast<size_t>(n), std::numeric_limits<float>::infinity());
  ProgressBar progress("coreset", static_cast<size_t>(count), options.show_progress);
  for (int64_t it = 0; it < count; ++it) {
    if (it % 256 == 0) {
      if (cancel != nullptr) cancel->ThrowIfCancelled();
      if (it > 0) progress.Advance(256);
    }
    selected.push_back(next);
    nearest[next] = -1.f;
    if (it + 1 == count) break;
    int64_t farthest = -1;
    float farthest_value = -1.f;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(n), pdim, 1.f, points, pdim,
                points + next * pdim, 1, 0.f, dots.data(), 1);
    const float center_norm = norms[next];
    for (int64_t i = 0; i < n; ++i) {
      float& v = nearest[i];
      if (v < 0) continue;
      v = std::min(v, std::max(norms[i] + center_norm - 2.f * dots[i], 0.f));
      if (v > farthest_value) {
        farthest_value = v;
        farthest = i;
      }
    }
    next = farthest;
  }
  progress.Finish();
  return selected;
}

double CoveringRadius(const float* features, int64_t n, int dim,
                      const std::vector<int64_t>& selected) {
  VIGIL_CHECK(!selected.empty(), "coreset: empty selection");
  double radius = 0;
  for (int64_t i = 0; i < n; ++i) {
    double best = std::numeric_limits<double>::infinity();
    for (int64_t s : selected) {
      best = std::min(best,
                      static_cast<double>(L2Distance(features + i * dim, features + s * dim, dim)));
    }
    radius = std::max(radius, best);
  }
  return radius;
}

}  // namespace vigil::spade
