#include "vigil/spade/knn.h"

#include <random>

#include <gtest/gtest.h>

#include "vigil/util/check.h"

namespace vigil::spade {
namespace {

std::vector<float> RandomRows(int64_t n, int dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n) * dim);
  for (float& x : v) x = normal(rng);
  return v;
}

// The blocked GEMM search must return exactly what the plain loop returns, including across
// block remainders (sizes not multiples of the blocks).
TEST(Knn, BlockedGemmMatchesNaiveLoop) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    const int dim = 37;
    const int64_t nq = 203, ng = 517;
    const auto q = RandomRows(nq, dim, seed), g = RandomRows(ng, dim, seed + 100);
    KnnOptions options;
    options.query_block = 64;
    options.gallery_block = 100;
    for (int k : {1, 5}) {
      options.num_threads = k == 1 ? 1 : 3;  // 3 workers over 4 query blocks
      const KnnResult fast = ExactKnn(q.data(), nq, g.data(), ng, dim, k, options);
      const KnnResult naive = NaiveKnn(q.data(), nq, g.data(), ng, dim, k);
      ASSERT_EQ(fast.indices, naive.indices) << "k = " << k;
      for (size_t i = 0; i < fast.distances.size(); ++i) {
        ASSERT_NEAR(fast.distances[i], naive.distances[i], 1e-6f) << i;
      }
    }
  }
}

// A query equal to a gallery row: the GEMM form suffers cancellation, the recomputed distance
// must be exactly 0.
TEST(Knn, ExactDuplicateHasZeroDistance) {
  const int dim = 64;
  auto g = RandomRows(50, dim, 7);
  for (float& x : g) x = x * 100.f + 1000.f;  // large norms make ||a||^2 - 2ab + ||b||^2 noisy
  const KnnResult r = ExactKnn(g.data() + 17 * dim, 1, g.data(), 50, dim, 1, KnnOptions());
  EXPECT_EQ(r.indices[0], 17);
  EXPECT_EQ(r.distances[0], 0.f);
}

TEST(Knn, RejectsBadK) {
  const auto g = RandomRows(4, 3, 1);
  EXPECT_THROW(ExactKnn(g.data(), 1, g.data(), 4, 3, 5, KnnOptions()), Error);
  EXPECT_THROW(ExactKnn(g.data(), 1, g.data(), 4, 3, 0, KnnOptions()), Error);
}

}  // namespace
}  // namespace vigil::spade
