#include "vigil/matching/nearest_neighbor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "vigil/features/extractor.h"
#include "vigil/io/image_io.h"
#include "vigil/util/check.h"
#include "vigil/util/testing.h"

namespace vigil {
namespace {

Features RandomFeatures(int n, int dim, std::mt19937& rng) {
  std::normal_distribution<float> normal;
  Features f;
  f.keypoints = KeypointMatrix::Zero(n, 2);
  f.scores = Eigen::VectorXf::Ones(n);
  f.descriptors.resize(n, dim);
  for (int i = 0; i < f.descriptors.size(); ++i) f.descriptors.data()[i] = normal(rng);
  return f;
}

// Plain O(N0 N1 D) mutual NN on cosine similarity: the reference the blocked GEMM version
// must reproduce exactly.
std::vector<int> BruteForceMutualNn(const Features& a, const Features& b) {
  auto normalized = [](DescriptorMatrix d) {
    for (int i = 0; i < d.rows(); ++i) d.row(i).normalize();
    return d;
  };
  const DescriptorMatrix da = normalized(a.descriptors), db = normalized(b.descriptors);
  const Eigen::MatrixXf sim = da * db.transpose();
  std::vector<int> result(a.size(), -1);
  for (int i = 0; i < a.size(); ++i) {
    int j;
    sim.row(i).maxCoeff(&j);
    int back;
    sim.col(j).maxCoeff(&back);
    if (back == i && sim(i, j) > 0) result[i] = j;
  }
  return result;
}

TEST(NearestNeighbor, RecoversPermutationOfNoisyCopies) {
  std::mt19937 rng(1);
  const Features a = RandomFeatures(300, 64, rng);
  std::vector<int> perm(300);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  Features b = a;
  std::normal_distribution<float> noise(0.f, 0.05f);
  for (int i = 0; i < 300; ++i) {
    for (int k = 0; k < 64; ++k) b.descriptors(perm[i], k) = a.descriptors(i, k) + noise(rng);
  }
  const Matches m = MatchNearestNeighbors(a, b, {});
  ASSERT_EQ(m.num_matches(), 300);
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(m.matches0[i], perm[i]);
    EXPECT_GT(m.confidence0[i], 0.9f);
    EXPECT_LE(m.confidence0[i], 1.0f);
    EXPECT_EQ(m.matches1[perm[i]], i);
  }
}

TEST(NearestNeighbor, BlockedGemmEqualsBruteForceAcrossBlocks) {
  std::mt19937 rng(2);  // seed printed by the test name; 2500 rows spans three 1024-row blocks
  const Features a = RandomFeatures(2500, 32, rng);
  const Features b = RandomFeatures(700, 32, rng);
  const Matches m = MatchNearestNeighbors(a, b, {});
  EXPECT_EQ(m.matches0, BruteForceMutualNn(a, b)) << "seed 2";
}

TEST(NearestNeighbor, ThresholdAndConfidenceAreConsistent) {
  std::mt19937 rng(3);
  const Features a = RandomFeatures(200, 16, rng);
  Features b = RandomFeatures(200, 16, rng);
  const Matches all = MatchNearestNeighbors(a, b, {});
  NearestNeighborOptions strict;
  strict.threshold = 0.5f;
  const Matches filtered = MatchNearestNeighbors(a, b, strict);
  EXPECT_EQ(filtered.matches0, FilterMatchesByConfidence(all, 0.5f).matches0);
  for (size_t i = 0; i < filtered.matches0.size(); ++i) {
    if (filtered.matches0[i] >= 0) EXPECT_GT(filtered.confidence0[i], 0.5f);
  }
}

TEST(NearestNeighbor, RatioTestRejectsAmbiguousMatch) {
  // Query 0 is equally close to two candidates: the ratio test must reject it.
  Features a, b;
  a.keypoints = KeypointMatrix::Zero(1, 2);
  b.keypoints = KeypointMatrix::Zero(2, 2);
  a.descriptors.resize(1, 2);
  a.descriptors << 1.f, 0.f;
  b.descriptors.resize(2, 2);
  b.descriptors << 0.8f, 0.6f, 0.8f, -0.6f;
  NearestNeighborOptions ratio;
  ratio.ratio = 0.8f;
  ratio.mutual = false;
  EXPECT_EQ(MatchNearestNeighbors(a, b, ratio).num_matches(), 0);
  ratio.ratio = 1.0f;
  EXPECT_EQ(MatchNearestNeighbors(a, b, ratio).num_matches(), 1);
}

TEST(NearestNeighbor, HammingMatchesAndConfidence) {
  Features a, b;
  a.keypoints = KeypointMatrix::Zero(2, 2);
  b.keypoints = KeypointMatrix::Zero(2, 2);
  a.binary_descriptors = BinaryDescriptorMatrix::Zero(2, 32);
  a.binary_descriptors.row(1).setConstant(0xFF);
  b.binary_descriptors = a.binary_descriptors.colwise().reverse();  // rows swapped
  b.binary_descriptors(1, 0) = 0x01;                                 // 1 bit off from a row 0
  const Matches m = MatchNearestNeighbors(a, b, {});
  EXPECT_EQ(m.matches0, (std::vector<int>{1, 0}));
  EXPECT_FLOAT_EQ(m.confidence0[0], 1.f - 1.f / 256.f);
  EXPECT_FLOAT_EQ(m.confidence0[1], 1.f);
}

TEST(NearestNeighbor, EmptyAndSingleKeypointSetsGiveSensibleOutput) {
  std::mt19937 rng(4);
  const Features none = RandomFeatures(0, 8, rng);
  const Features one = RandomFeatures(1, 8, rng);
  const Features many = RandomFeatures(4000, 8, rng);
  EXPECT_EQ(MatchNearestNeighbors(none, many, {}).matches0.size(), 0u);
  EXPECT_EQ(MatchNearestNeighbors(many, none, {}).num_matches(), 0);
  EXPECT_EQ(MatchNearestNeighbors(many, none, {}).matches0.size(), 4000u);
  const Matches single = MatchNearestNeighbors(one, one, {});
  EXPECT_EQ(single.matches0, std::vector<int>{0});
  EXPECT_NEAR(single.confidence0[0], 1.f, 1e-6f);
}

TEST(NearestNeighbor, MismatchedDescriptorSizesAreAClearError) {
  std::mt19937 rng(5);
  EXPECT_THROW(MatchNearestNeighbors(RandomFeatures(3, 8, rng), RandomFeatures(3, 16, rng), {}),
               Error);
}

TEST(NearestNeighbor, OptionsAreChecked) {
  NearestNeighborOptions bad;
  bad.threshold = 1.5f;
  EXPECT_THROW(bad.Check(), Error);
  bad = {};
  bad.ratio = 0.f;
  EXPECT_THROW(bad.Check(), Error);
}

// Issue 2's acceptance: real SuperPoint + mutual NN on freiburg0 -> freiburg0s (a pure shift of
// (+13, +7) px). The authors' SuperPoint + plain mutual NN gives 97.4% within 3 px and 92.4%
// within 1.5 px (381 matches, max 1024 keypoints).
TEST(NearestNeighbor, RealSuperPointRecoversTheKnownShift) {
  const auto weights = testing::ModelsDir() / "superpoint" / "superpoint_v1_from_fp16.pth";
  const auto images = testing::FixturesDir() / "images";
  VIGIL_REQUIRE_FILE(weights);
  VIGIL_REQUIRE_FILE(images / "freiburg0s.png");
  FeatureExtractorOptions options;
  options.superpoint.weights = weights.string();
  options.superpoint.max_keypoints = 1024;
  auto extractor = FeatureExtractor::Create(options);
  const Features f0 = extractor->Extract(io::ReadImage(images / "freiburg0.png"));
  const Features f1 = extractor->Extract(io::ReadImage(images / "freiburg0s.png"));
  const Matches m = MatchNearestNeighbors(f0, f1, {});
  int within3 = 0, within15 = 0;
  for (int i = 0; i < f0.size(); ++i) {
    const int j = m.matches0[i];
    if (j < 0) continue;
    const Eigen::Vector2f error = f1.keypoints.row(j).transpose() -
                                  f0.keypoints.row(i).transpose() - Eigen::Vector2f(13.f, 7.f);
    within3 += error.norm() <= 3.f;
    within15 += error.norm() <= 1.5f;
  }
  const double n = m.num_matches();
  ASSERT_GT(n, 300);
  EXPECT_GE(within3 / n, 0.95) << within3 << " of " << n;
  EXPECT_GE(within15 / n, 0.924) << within15 << " of " << n;
}

}  // namespace
}  // namespace vigil
