#include "vigil/clustering/dbscan.h"

#include <cmath>
#include <limits>
#include <random>
#include <set>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "vigil/util/check.h"

namespace vigil {
namespace {

Points2f MakePoints(const std::vector<std::pair<float, float>>& xy) {
  Points2f points(static_cast<Eigen::Index>(xy.size()), 2);
  for (size_t i = 0; i < xy.size(); ++i) {
    points(i, 0) = xy[i].first;
    points(i, 1) = xy[i].second;
  }
  return points;
}

DbscanOptions Options(double eps, int min_samples) {
  DbscanOptions options;
  options.eps = eps;
  options.min_samples = min_samples;
  return options;
}

// Plain O(n^2) DBSCAN with the same (scikit-learn) conventions, breadth-first: the reference
// for the grid-accelerated version.
std::vector<int> ReferenceDbscan(const Points2f& p, double eps, int min_samples) {
  const int n = static_cast<int>(p.rows());
  std::vector<std::vector<int>> nb(n);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      const double dx = double(p(i, 0)) - p(j, 0), dy = double(p(i, 1)) - p(j, 1);
      if (dx * dx + dy * dy <= eps * eps) nb[i].push_back(j);
    }
  }
  std::vector<int> labels(n, -1);
  int next = 0;
  for (int s = 0; s < n; ++s) {
    if (labels[s] != -1 || static_cast<int>(nb[s].size()) < min_samples) continue;
    std::vector<int> queue = {s};
    labels[s] = next;
    for (size_t q = 0; q < queue.size(); ++q) {
      const int i = queue[q];
      if (static_cast<int>(nb[i].size()) < min_samples) continue;
      for (int j : nb[i]) {
        if (labels[j] == -1) {
          labels[j] = next;
          queue.push_back(j);
        }
      }
    }
    ++next;
  }
  return labels;
}

TEST(Dbscan, TwoClustersAndNoise) {
  // Two 3x3 grids (spacing 1) far apart, plus two isolated points.
  std::vector<std::pair<float, float>> xy;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) xy.push_back({float(i), float(j)});
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) xy.push_back({100.0f + i, 50.0f + j});
  xy.push_back({50, 50});
  xy.push_back({-40, 7});
  const DbscanResult r = Dbscan(MakePoints(xy), Options(1.5, 4));
  EXPECT_EQ(r.num_clusters, 2);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(r.labels[i], 0) << i;
  for (int i = 9; i < 18; ++i) EXPECT_EQ(r.labels[i], 1) << i;
  EXPECT_EQ(r.labels[18], -1);
  EXPECT_EQ(r.labels[19], -1);
  EXPECT_EQ(r.ClusterMembers(1).size(), 9u);
  // Centre of a 3x3 grid with eps 1.5 sees all 9; a corner sees 4 (itself, 2 edges, diagonal).
  EXPECT_TRUE(r.is_core[4]);
  EXPECT_TRUE(r.is_core[0]);
  EXPECT_FALSE(r.is_core[18]);
}

TEST(Dbscan, BorderPointJoinsFirstClusterThatReachesIt) {
  // A: 5 points on [0, 0.4], C: 5 points on [2.0, 2.4], P at 1.2: within eps = 0.85 of A's 0.4
  // and C's 2.0 (both core) but only 3 neighbours itself, so a border point of both.
  const std::vector<std::pair<float, float>> a = {
      {0, 0}, {0.1f, 0}, {0.2f, 0}, {0.3f, 0}, {0.4f, 0}};
  const std::vector<std::pair<float, float>> c = {
      {2.0f, 0}, {2.1f, 0}, {2.2f, 0}, {2.3f, 0}, {2.4f, 0}};
  const std::pair<float, float> p = {1.2f, 0};

  std::vector<std::pair<float, float>> a_first = a;
  a_first.insert(a_first.end(), c.begin(), c.end());
  a_first.push_back(p);
  const DbscanResult r1 = Dbscan(MakePoints(a_first), Options(0.85, 5));
  EXPECT_EQ(r1.num_clusters, 2);
  EXPECT_FALSE(r1.is_core[10]);
  EXPECT_EQ(r1.labels[10], r1.labels[0]);  // A was grown first
  EXPECT_EQ(r1.labels[0], 0);

  std::vector<std::pair<float, float>> c_first = c;
  c_first.push_back(p);
  c_first.insert(c_first.end(), a.begin(), a.end());
  const DbscanResult r2 = Dbscan(MakePoints(c_first), Options(0.85, 5));
  EXPECT_EQ(r2.num_clusters, 2);
  EXPECT_EQ(r2.labels[5], r2.labels[0]);  // now C is grown first
  EXPECT_EQ(r2.labels[6], 1);
}

TEST(Dbscan, NeighbourhoodIsInclusiveAndCountsSelf) {
  // Distance exactly eps counts (|p - q| <= eps); min_samples counts the point itself.
  const Points2f two = MakePoints({{0, 0}, {1, 0}});
  EXPECT_EQ(Dbscan(two, Options(1.0, 2)).num_clusters, 1);
  EXPECT_EQ(Dbscan(two, Options(0.999, 2)).num_clusters, 0);
  // min_samples = 1: every point is core; isolated points are singleton clusters.
  const DbscanResult singles = Dbscan(MakePoints({{0, 0}, {10, 0}, {20, 0}}), Options(1.0, 1));
  EXPECT_EQ(singles.num_clusters, 3);
  EXPECT_EQ(singles.labels, (std::vector<int>{0, 1, 2}));
}

TEST(Dbscan, DuplicatePointsCountSeparately) {
  const Points2f five = MakePoints({{3, 3}, {3, 3}, {3, 3}, {3, 3}, {3, 3}});
  const DbscanResult r = Dbscan(five, Options(0.5, 5));
  EXPECT_EQ(r.num_clusters, 1);
  EXPECT_EQ(r.labels, std::vector<int>(5, 0));
  const Points2f four = MakePoints({{3, 3}, {3, 3}, {3, 3}, {3, 3}});
  EXPECT_EQ(Dbscan(four, Options(0.5, 5)).labels, std::vector<int>(4, -1));
}

TEST(Dbscan, EmptyInput) {
  const DbscanResult r = Dbscan(Points2f(0, 2), DbscanOptions());
  EXPECT_TRUE(r.labels.empty());
  EXPECT_EQ(r.num_clusters, 0);
}

TEST(Dbscan, BadInputThrows) {
  const Points2f p = MakePoints({{0, 0}, {1, 1}});
  EXPECT_THROW(Dbscan(p, Options(0, 5)), Error);
  EXPECT_THROW(Dbscan(p, Options(std::numeric_limits<double>::quiet_NaN(), 5)), Error);
  EXPECT_THROW(Dbscan(p, Options(1, 0)), Error);
  const Points2f bad = MakePoints({{0, 0}, {std::numeric_limits<float>::infinity(), 1}});
  try {
    Dbscan(bad, DbscanOptions());
    FAIL() << "expected vigil::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("point 1"), std::string::npos) << e.what();
  }
  // eps far below the spread of the points: a clear error instead of an overflowing grid.
  EXPECT_THROW(Dbscan(MakePoints({{0, 0}, {1e8f, 0}}), Options(1e-3, 2)), Error);
}

TEST(Dbscan, MatchesBruteForceReferenceOnRandomPoints) {
  for (unsigned seed : {1u, 2u, 3u, 4u, 5u}) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> uniform(-200, 300);
    std::normal_distribution<float> blob(0, 6);
    std::vector<std::pair<float, float>> xy;
    for (int c = 0; c < 6; ++c) {
      const float cx = uniform(rng), cy = uniform(rng);
      for (int i = 0; i < 40; ++i) xy.push_back({cx + blob(rng), cy + blob(rng)});
    }
    for (int i = 0; i < 80; ++i) xy.push_back({uniform(rng), uniform(rng)});
    std::shuffle(xy.begin(), xy.end(), rng);
    const Points2f points = MakePoints(xy);
    for (double eps : {3.0, 7.5, 20.0}) {
      for (int min_samples : {3, 5, 10}) {
        const DbscanResult r = Dbscan(points, Options(eps, min_samples));
        EXPECT_EQ(r.labels, ReferenceDbscan(points, eps, min_samples))
            << "seed " << seed << " eps " << eps << " min_samples " << min_samples;
      }
    }
  }
}

TEST(DbscanEps, KneeOfKDistanceSeparatesClustersFromNoise) {
  // Three Gaussian blobs (sigma 8 px, 40 points each) and 40 uniform points in 640 x 480, the
  // situation of unmatched keypoints: eps from the knee must put the blobs together and leave
  // (nearly all) scattered points as noise.
  for (unsigned seed : {1u, 2u, 3u, 4u, 5u, 6u}) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> ux(0, 640), uy(0, 480), centre(60, 420);
    std::normal_distribution<float> blob(0, 8);
    std::vector<std::pair<float, float>> xy;
    std::vector<std::pair<float, float>> centres;
    while (centres.size() < 3) {  // blobs well apart, so "3 clusters" is the right answer
      const std::pair<float, float> c = {centre(rng) * 1.4f, centre(rng)};
      bool far = true;
      for (const auto& o : centres) far &= std::hypot(c.first - o.first, c.second - o.second) > 150;
      if (far) centres.push_back(c);
    }
    for (const auto& c : centres)
      for (int i = 0; i < 40; ++i) xy.push_back({c.first + blob(rng), c.second + blob(rng)});
    for (int i = 0; i < 40; ++i) xy.push_back({ux(rng), uy(rng)});
    const Points2f points = MakePoints(xy);
    EpsEstimateOptions options;
    options.k = 4;
    const EpsEstimate estimate = EstimateDbscanEps(points, options);
    ASSERT_TRUE(estimate.eps.has_value()) << "seed " << seed << ": " << estimate.note;
    EXPECT_TRUE(estimate.from_knee) << "seed " << seed << ": " << estimate.note;
    ASSERT_TRUE(estimate.knee_index.has_value());
    EXPECT_DOUBLE_EQ(*estimate.eps, estimate.k_distances[*estimate.knee_index]);
    ASSERT_EQ(estimate.k_distances.size(), xy.size());
    EXPECT_TRUE(std::is_sorted(estimate.k_distances.begin(), estimate.k_distances.end()));
    // Between the blobs' typical 4-distance (~5 px) and the scattered points' (~50+ px).
    EXPECT_GT(*estimate.eps, 6.0) << "seed " << seed;
    EXPECT_LT(*estimate.eps, 30.0) << "seed " << seed;

    const DbscanResult r = Dbscan(points, Options(*estimate.eps, options.k + 1));
    int blob_clustered = 0, noise_as_noise = 0;
    std::set<int> blob_labels;
    for (int i = 0; i < 120; ++i) {
      blob_clustered += r.labels[i] >= 0;
      if (r.labels[i] >= 0) blob_labels.insert(r.labels[i]);
    }
    for (int i = 120; i < 160; ++i) noise_as_noise += r.labels[i] == -1;
    EXPECT_EQ(blob_labels.size(), 3u) << "seed " << seed;
    EXPECT_GE(blob_clustered, 110) << "seed " << seed;
    EXPECT_GE(noise_as_noise, 34) << "seed " << seed;
  }
  // The same data with 1-D collinear k-distances from a hand-made staircase: 4 points at 0, 1, 2, 3
  // have k = 1 distances all 1, the far point 100 has 97.
  EpsEstimateOptions one;
  one.k = 1;
  const EpsEstimate line =
      EstimateDbscanEps(MakePoints({{0, 0}, {1, 0}, {2, 0}, {3, 0}, {100, 0}}), one);
  EXPECT_EQ(line.k_distances, (std::vector<double>{1, 1, 1, 1, 97}));
}

TEST(DbscanEps, FallbacksAndTooFewPoints) {
  EpsEstimateOptions options;
  options.k = 4;
  // <= k points: no k-distance at all.
  const EpsEstimate few = EstimateDbscanEps(MakePoints({{0, 0}, {1, 0}, {2, 0}, {3, 0}}), options);
  EXPECT_FALSE(few.eps.has_value());
  EXPECT_FALSE(few.note.empty());
  // Two regular pentagons far apart: every 4-distance is the pentagon's diagonal, a flat curve
  // without knee -> the median fallback, which is that diagonal.
  std::vector<std::pair<float, float>> lattice;
  for (int c = 0; c < 2; ++c) {
    for (int i = 0; i < 5; ++i) {
      const double angle = 2 * M_PI * i / 5;
      lattice.push_back({float(1000 * c + 10 * std::cos(angle)), float(10 * std::sin(angle))});
    }
  }
  const EpsEstimate flat = EstimateDbscanEps(MakePoints(lattice), options);
  ASSERT_TRUE(flat.eps.has_value());
  EXPECT_FALSE(flat.from_knee);
  EXPECT_NE(flat.note.find("no knee"), std::string::npos) << flat.note;
  const double diagonal = 2 * 10 * std::sin(2 * M_PI / 5);
  EXPECT_NEAR(*flat.eps, diagonal, 1e-3);
  // All duplicates: every k-distance 0, no usable eps.
  const EpsEstimate dup =
      EstimateDbscanEps(MakePoints({{1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}), options);
  EXPECT_FALSE(dup.eps.has_value());
  EXPECT_FALSE(dup.note.empty());
  options.k = 0;
  EXPECT_THROW(EstimateDbscanEps(MakePoints(lattice), options), Error);
}

TEST(ClusterPoints, EstimatesEpsAndSummarisesClusters) {
  // Two 5x5 grids (spacing 2) and three far points; eps estimated with k = min_samples - 1 = 4.
  std::vector<std::pair<float, float>> xy;
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) {
      xy.push_back({10.0f + 2 * i, 20.0f + 2 * j});
      xy.push_back({200.0f + 2 * i, 100.0f + 2 * j});
    }
  xy.push_back({400, 400});
  xy.push_back({50, 300});
  xy.push_back({600, 30});
  ClusterPointsOptions options;
  const ClusterPointsResult r = ClusterPoints(MakePoints(xy), options);
  EXPECT_TRUE(r.eps_estimated);
  EXPECT_EQ(r.eps_estimate.k_distances.size(), xy.size());
  ASSERT_EQ(r.clusters.size(), 2u) << "eps " << r.eps << ": " << r.eps_estimate.note;
  const PointCluster& a = r.clusters[0];
  EXPECT_EQ(a.members.size(), 25u);
  EXPECT_FLOAT_EQ(a.bbox.x, 10);
  EXPECT_FLOAT_EQ(a.bbox.y, 20);
  EXPECT_FLOAT_EQ(a.bbox.width, 8);
  EXPECT_FLOAT_EQ(a.bbox.height, 8);
  EXPECT_NEAR(a.centroid.x, 14, 1e-4);
  EXPECT_NEAR(a.centroid.y, 24, 1e-4);
  EXPECT_EQ(a.hull.size(), 4u);  // the grid's four corners
  EXPECT_NEAR(cv::contourArea(a.hull), 64.0, 1e-3);
  EXPECT_EQ(r.dbscan.labels[50], -1);

  // A given eps is used as is.
  options.eps = 1.0;  // below the grid spacing: nothing is dense enough
  const ClusterPointsResult fixed = ClusterPoints(MakePoints(xy), options);
  EXPECT_FALSE(fixed.eps_estimated);
  EXPECT_DOUBLE_EQ(fixed.eps, 1.0);
  EXPECT_TRUE(fixed.clusters.empty());

  // Too few points to estimate eps: all noise, no error.
  options.eps = 0;
  const ClusterPointsResult few = ClusterPoints(MakePoints({{0, 0}, {1, 1}}), options);
  EXPECT_EQ(few.eps, 0);
  EXPECT_EQ(few.dbscan.labels, (std::vector<int>{-1, -1}));
  EXPECT_FALSE(few.eps_estimate.note.empty());
  options.min_samples = 1;
  EXPECT_THROW(ClusterPoints(MakePoints(xy), options), Error);
}

}  // namespace
}  // namespace vigil
