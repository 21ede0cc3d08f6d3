#include "vigil/matching/verification.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <Eigen/Geometry>

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

// Two views of a random 3-D point cloud (known K, R, t): 150 true correspondences and 40 gross
// outliers placed >= 15 px from their true epipolar line. A fundamental matrix with MAGSAC must
// keep (almost) every true match and reject every outlier.
TEST(Verification, FundamentalSeparatesInliersFromOutliers) {
  std::mt19937 rng(23);
  std::uniform_real_distribution<double> lateral(-2.0, 2.0), depth(4.0, 10.0);
  std::uniform_real_distribution<double> px(0.0, 640.0), py(0.0, 480.0);
  const double f = 500, cx = 320, cy = 240, angle = 0.08;
  const Eigen::Matrix3d R = Eigen::AngleAxisd(angle, Eigen::Vector3d::UnitY()).toRotationMatrix();
  const Eigen::Vector3d t(0.6, 0.05, 0.1);
  Eigen::Matrix3d K;
  K << f, 0, cx, 0, f, cy, 0, 0, 1;
  Eigen::Matrix3d tx;
  tx << 0, -t.z(), t.y(), t.z(), 0, -t.x(), -t.y(), t.x(), 0;
  const Eigen::Matrix3d F = K.inverse().transpose() * tx * R * K.inverse();  // x1^T F x0 = 0
  const int inliers = 150, outliers = 40, n = inliers + outliers;
  Features f0, f1;
  f0.keypoints.resize(n, 2);
  f1.keypoints.resize(n, 2);
  Matches matches;
  for (int i = 0; i < n; ++i) {
    const Eigen::Vector3d X(lateral(rng), lateral(rng), depth(rng));
    const Eigen::Vector3d x0 = K * X, x1 = K * (R * X + t);
    f0.keypoints.row(i) << float(x0.x() / x0.z()), float(x0.y() / x0.z());
    f1.keypoints.row(i) << float(x1.x() / x1.z()), float(x1.y() / x1.z());
    if (i >= inliers) {
      // A random point in image 1 far from the epipolar line of x0.
      const Eigen::Vector3d line = F * Eigen::Vector3d(x0.x() / x0.z(), x0.y() / x0.z(), 1);
      Eigen::Vector2d p;
      do {
        p = {px(rng), py(rng)};
      } while (std::abs(line.dot(p.homogeneous())) / line.head<2>().norm() < 15.0);
      f1.keypoints.row(i) << float(p.x()), float(p.y());
    }
    matches.matches0.push_back(i);
    matches.confidence0.push_back(1.f);
  }
  VerificationOptions options;
  options.method = "fundamental";
  const VerificationReport report = VerifyMatches(f0, f1, options, &matches);
  ASSERT_TRUE(report.success);
  int kept = 0;
  for (int i = 0; i < n; ++i) {
    if (i < inliers) kept += matches.inlier0[i];
    else EXPECT_EQ(matches.inlier0[i], 0) << "outlier " << i << " accepted";
  }
  EXPECT_GE(kept, inliers * 95 / 100);
  EXPECT_EQ(report.num_inliers, kept);
}

// Two views (known K, R, t, 0.5 px noise) of points on one plane and of a 3-D cloud. Torr's
// model selection must call the plane a plane and the cloud not, at ORB-SLAM2's 0.40, although
// the fundamental matrix keeps at least as many inliers in both.
double ScoreShareOfScene(bool planar) {
  std::mt19937 rng(planar ? 5 : 6);
  std::uniform_real_distribution<double> lateral(-2.0, 2.0), depth(3.0, 10.0);
  std::normal_distribution<double> noise(0.0, 0.5);
  const double f = 500, cx = 320, cy = 240;
  const Eigen::Matrix3d R = Eigen::AngleAxisd(0.08, Eigen::Vector3d::UnitY()).toRotationMatrix();
  const Eigen::Vector3d t(0.6, 0.05, 0.1);
  Eigen::Matrix3d K;
  K << f, 0, cx, 0, f, cy, 0, 0, 1;
  const int n = 200;
  Features f0, f1;
  f0.keypoints.resize(n, 2);
  f1.keypoints.resize(n, 2);
  Matches matches;
  for (int i = 0; i < n; ++i) {
    const Eigen::Vector3d X(lateral(rng), lateral(rng), planar ? 6.0 : depth(rng));
    const Eigen::Vector3d x0 = K * X, x1 = K * (R * X + t);
    f0.keypoints.row(i) << float(x0.x() / x0.z()), float(x0.y() / x0.z());
    f1.keypoints.row(i) << float(x1.x() / x1.z() + noise(rng)), float(x1.y() / x1.z() + noise(rng));
    matches.matches0.push_back(i);
    matches.confidence0.push_back(1.f);
  }
  const ViewCheck check = CheckView(f0, f1, matches, {640, 480}, {});
  EXPECT_TRUE(check.passed) << check.reason;
  EXPECT_FALSE(check.homography.empty());
  EXPECT_FALSE(check.fundamental.empty());
  return HomographyScoreShare(f0, f1, matches, check.homography, check.fundamental);
}

TEST(Verification, ModelSelectionTellsAPlaneFromAThreeDimensionalScene) {
  const double plane = ScoreShareOfScene(true), cloud = ScoreShareOfScene(false);
  EXPECT_GT(plane, 0.40);
  EXPECT_LT(cloud, 0.40);
  EXPECT_GT(plane, cloud + 0.1);
  Features none;
  EXPECT_EQ(HomographyScoreShare(none, none, Matches{}, cv::Mat(), cv::Mat()), 0.0);
}

TEST(Verification, BinomialUpperTailMatchesClosedForms) {
  EXPECT_NEAR(BinomialUpperTail(10, 10, 0.5), 1.0 / 1024, 1e-12);
  EXPECT_NEAR(BinomialUpperTail(4, 2, 0.5), 11.0 / 16, 1e-12);  // (6 + 4 + 1) / 16
  EXPECT_DOUBLE_EQ(BinomialUpperTail(7, 0, 0.3), 1.0);
  EXPECT_DOUBLE_EQ(BinomialUpperTail(7, 8, 0.3), 0.0);
  EXPECT_NEAR(BinomialUpperTail(3, 1, 0.2), 1 - 0.8 * 0.8 * 0.8, 1e-12);
}

// Random correspondences between clustered keypoint layouts (a cluster in each image, the
// layout that lets an epipolar geometry fit much of anything) must fail the view check as
// chance level, however many "inliers" the fit keeps; the same layouts with true
// correspondences under a homography pass it.
TEST(Verification, ChanceLevelInliersFailTheViewCheck) {
  std::mt19937 rng(5);
  std::normal_distribution<float> around(0.f, 60.f);
  std::uniform_real_distribution<float> coord(0.f, 640.f);
  const int n = 90;
  Features q, r, r_true;
  q.keypoints.resize(n, 2);
  r.keypoints.resize(n, 2);
  r_true.keypoints.resize(n, 2);
  Matches matches;
  for (int i = 0; i < n; ++i) {
    const float x = coord(rng), y = 0.75f * coord(rng);
    q.keypoints.row(i) << x, y;
    r.keypoints.row(i) << 320.f + around(rng), 240.f + around(rng);  // unrelated points
    r_true.keypoints.row(i) << 0.9f * x + 20.f, 0.9f * y + 10.f;
    matches.matches0.push_back(i);
    matches.confidence0.push_back(1.f);
  }
  ViewCheckOptions options;
  options.min_inlier_ratio = 0;  // only the significance test decides here
  options.min_inliers = 8;
  options.min_span = 0;
  const ViewCheck random = CheckView(q, r, matches, {640, 480}, options);
  EXPECT_FALSE(random.passed) << random.report.num_inliers << " inliers";
  EXPECT_NE(random.reason.find("chance level"), std::string::npos) << random.reason;
  EXPECT_GT(random.report.null_probability, options.max_null_probability);
  const ViewCheck real = CheckView(q, r_true, matches, {640, 480}, options);
  EXPECT_TRUE(real.passed) << real.reason;
  EXPECT_LT(real.report.null_probability, 1e-6);
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
