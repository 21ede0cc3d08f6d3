#include "vigil/matching/verification.h"

#include <gtest/gtest.h>

#include <random>

#include "vigil/util/check.h"

namespace vigil {
namespace {

// 80 matches under a known homography plus 20 gross outliers: the estimator must flag exactly
// the outliers (they are displaced by >= 40 px, far beyond the 3 px threshold).
TEST(Verification, HomographySeparatesInliersFromOutliers) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> coord(0.f, 600.f), jump(40.f, 200.f);
  const int n = 100;
  Features f0, f1;
  f0.keypoints.resize(n, 2);
  f1.keypoints.resize(n, 2);
  Matches matches;
  for (int i = 0; i < n; ++i) {
    const float x = coord(rng), y = coord(rng);
    f0.keypoints.row(i) << x, y;
    // H = rotation by ~3 degrees + shift (13, 7).
    f1.keypoints.row(i) << 0.9986f * x - 0.0523f * y + 13.f, 0.0523f * x + 0.9986f * y + 7.f;
    if (i >= 80) f1.keypoints.row(i) += Eigen::RowVector2f(jump(rng), -jump(rng));
    matches.matches0.push_back(i);
    matches.confidence0.push_back(1.f);
  }
  const VerificationReport report = VerifyMatches(f0, f1, {}, &matches);
  ASSERT_TRUE(report.success);
  EXPECT_EQ(report.num_inliers, 80);
  for (int i = 0; i < n; ++i) EXPECT_EQ(matches.inlier0[i], i < 80 ? 1 : 0) << i;
}

TEST(Verification, TooFewMatchesMarksAllOutliersWithoutError) {
  Features f0, f1;
  f0.keypoints = KeypointMatrix::Zero(3, 2);
  f1.keypoints = KeypointMatrix::Zero(3, 2);
  Matches matches;
  matches.matches0 = {0, 1, -1};
  matches.confidence0 = {1.f, 1.f, 0.f};
  const VerificationReport report = VerifyMatches(f0, f1, {}, &matches);
  EXPECT_FALSE(report.success);
  EXPECT_EQ(matches.inlier0, (std::vector<uint8_t>{0, 0, 0}));
}

TEST(Verification, UnknownMethodIsRejected) {
  VerificationOptions options;
  options.method = "affine";
  EXPECT_THROW(options.Check(), Error);
}

}  // namespace
}  // namespace vigil
