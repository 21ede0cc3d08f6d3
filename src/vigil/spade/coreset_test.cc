#include "vigil/spade/coreset.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "vigil/spade/knn.h"

namespace vigil::spade {
namespace {

std::vector<float> RandomPoints(int n, int dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n) * dim);
  for (float& x : v) x = uniform(rng);
  return v;
}

double DistanceToSet(const std::vector<float>& points, int dim, int64_t i,
                     const std::vector<int64_t>& set) {
  double d = INFINITY;
  for (int64_t s : set) {
    d = std::min<double>(d, L2Distance(points.data() + i * dim, points.data() + s * dim, dim));
  }
  return d;
}

// Optimal k-center radius by enumerating every k-subset.
double BruteForceKCenter(const std::vector<float>& points, int n, int dim, int k) {
  std::vector<int> mask(n, 0);
  std::fill(mask.begin(), mask.begin() + k, 1);
  double best = INFINITY;
  do {
    std::vector<int64_t> chosen;
    for (int i = 0; i < n; ++i) {
      if (mask[i]) chosen.push_back(i);
    }
    best = std::min(best, CoveringRadius(points.data(), n, dim, chosen));
  } while (std::prev_permutation(mask.begin(), mask.end()));
  return best;
}

// Greedy k-center is a 2-approximation of the optimum (Gonzalez 1985); check it against the
// brute-force optimum on small sets, and check each greedy step picks the farthest point.
TEST(Coreset, GreedyIsWithinTwiceTheBruteForceOptimum) {
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    const int n = 14, dim = 3, k = 4;
    const auto points = RandomPoints(n, dim, seed);
    CoresetOptions options;
    options.projection_dim = 0;
    options.seed = seed;
    const auto selected = GreedyCoreset(points.data(), n, dim, k, options);
    ASSERT_EQ(selected.size(), static_cast<size_t>(k));
    const double greedy = CoveringRadius(points.data(), n, dim, selected);
    const double optimum = BruteForceKCenter(points, n, dim, k);
    EXPECT_LE(optimum, greedy + 1e-9);
    EXPECT_LE(greedy, 2 * optimum + 1e-6);
    // Each selected point (after the seeded start) is the farthest from the ones before it.
    for (int step = 1; step < k; ++step) {
      const std::vector<int64_t> before(selected.begin(), selected.begin() + step);
      double farthest = -1;
      for (int i = 0; i < n; ++i) {
        farthest = std::max(farthest, DistanceToSet(points, dim, i, before));
      }
      EXPECT_NEAR(DistanceToSet(points, dim, selected[step], before), farthest, 1e-5)
          << "step " << step;
    }
  }
}

TEST(Coreset, ProjectedSelectionIsDeterministicAndDistinct) {
  const int n = 400, dim = 64;
  const auto points = RandomPoints(n, dim, 11);
  CoresetOptions options;
  options.projection_dim = 16;
  options.seed = 3;
  const auto a = GreedyCoreset(points.data(), n, dim, 40, options);
  const auto b = GreedyCoreset(points.data(), n, dim, 40, options);
  EXPECT_EQ(a, b);
  EXPECT_EQ(std::set<int64_t>(a.begin(), a.end()).size(), 40u);
  // Covering quality in the original space stays close to the exact-distance greedy.
  options.projection_dim = 0;
  const auto exact = GreedyCoreset(points.data(), n, dim, 40, options);
  EXPECT_LT(CoveringRadius(points.data(), n, dim, a),
            1.5 * CoveringRadius(points.data(), n, dim, exact));
}

TEST(Coreset, DuplicatePointsStillGiveDistinctIndices) {
  std::vector<float> points(10 * 2, 1.f);  // ten identical points
  CoresetOptions options;
  const auto s = GreedyCoreset(points.data(), 10, 2, 10, options);
  EXPECT_EQ(std::set<int64_t>(s.begin(), s.end()).size(), 10u);
}

}  // namespace
}  // namespace vigil::spade
