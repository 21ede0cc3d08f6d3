// Test helpers for the learned matchers: the matcher inputs of the golden fixture pairs
// (../shared/fixtures/README.md: superpoint/<image>.yml.gz, matcher_inputs/synth.yml.gz) and
// small comparisons. Header-only, used by superglue_test.cc and lightglue_test.cc.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vigil/features/types.h"
#include "vigil/util/testing.h"

namespace vigil::glue_testing {

// The fixture pairs: image names of the superpoint/ outputs, or "synth" for matcher_inputs/.
inline const std::vector<std::string>& FixturePairs() {
  static const std::vector<std::string> pairs = {"scannet0_scannet1", "freiburg0_freiburg1",
                                                 "sacre0_sacre1", "freiburg0_freiburg0s",
                                                 "synth0_synth1"};
  return pairs;
}

inline cv::Mat ReadMat(const cv::FileStorage& fs, const std::string& key) {
  cv::Mat m;
  fs[key] >> m;
  EXPECT_FALSE(m.empty()) << "missing key " << key;
  return m;
}

inline Features FeaturesFromMats(const cv::Mat& keypoints, const cv::Mat& scores,
                                 const cv::Mat& descriptors_dxn) {
  Features f;
  const int n = keypoints.rows, dim = descriptors_dxn.rows;
  f.keypoints.resize(n, 2);
  f.scores.resize(n);
  f.descriptors.resize(n, dim);
  for (int i = 0; i < n; ++i) {
    f.keypoints(i, 0) = keypoints.at<float>(i, 0);
    f.keypoints(i, 1) = keypoints.at<float>(i, 1);
    f.scores[i] = scores.at<float>(i);
    for (int d = 0; d < dim; ++d) f.descriptors(i, d) = descriptors_dxn.at<float>(d, i);
  }
  f.image_width = 640;
  f.image_height = 480;
  f.extractor = "superpoint";
  return f;
}

// Matcher inputs of a fixture pair; gt_matches0 is filled for the synthetic pair only.
struct PairInputs {
  Features features0, features1;
  std::vector<int> gt_matches0;
};

inline PairInputs LoadPairInputs(const std::string& pair) {
  const auto fixtures = vigil::testing::FixturesDir();
  PairInputs in;
  if (pair == "synth0_synth1") {
    cv::FileStorage fs((fixtures / "matcher_inputs/synth.yml.gz").string(), cv::FileStorage::READ);
    in.features0 = FeaturesFromMats(ReadMat(fs, "keypoints0"), ReadMat(fs, "scores0"),
                                    ReadMat(fs, "descriptors0"));
    in.features1 = FeaturesFromMats(ReadMat(fs, "keypoints1"), ReadMat(fs, "scores1"),
                                    ReadMat(fs, "descriptors1"));
    const cv::Mat gt = ReadMat(fs, "gt_matches0");
    in.gt_matches0.assign(gt.begin<int>(), gt.end<int>());
    return in;
  }
  const size_t split = pair.find('_');
  for (int k = 0; k < 2; ++k) {
    const std::string image = k == 0 ? pair.substr(0, split) : pair.substr(split + 1);
    cv::FileStorage fs((fixtures / "superpoint" / (image + ".yml.gz")).string(),
                       cv::FileStorage::READ);
    (k == 0 ? in.features0 : in.features1) = FeaturesFromMats(
        ReadMat(fs, "keypoints"), ReadMat(fs, "scores"), ReadMat(fs, "descriptors"));
  }
  return in;
}

inline std::vector<int> IntVector(const cv::Mat& m) { return {m.begin<int>(), m.end<int>()}; }
inline std::vector<float> FloatVector(const cv::Mat& m) { return {m.begin<float>(), m.end<float>()}; }

// Random features in a 640x480 image (seeded), for edge cases and sizes.
inline Features RandomFeatures(int n, int dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> x(0.f, 639.f), y(0.f, 479.f), score(0.f, 1.f);
  std::normal_distribution<float> normal;
  Features f;
  f.keypoints.resize(n, 2);
  f.scores.resize(n);
  f.descriptors.resize(n, dim);
  for (int i = 0; i < n; ++i) {
    f.keypoints(i, 0) = x(rng);
    f.keypoints(i, 1) = y(rng);
    f.scores[i] = score(rng);
    f.descriptors.row(i) = Eigen::RowVectorXf::NullaryExpr(dim, [&] { return normal(rng); });
    f.descriptors.row(i).normalize();
  }
  f.image_width = 640;
  f.image_height = 480;
  f.extractor = "random";
  return f;
}

// A (N0 + 1) x (N1 + 1) row-major log-assignment matrix against the reference's stored parts:
// its top-left block (log_assignment_top_left) and dustbin row and column, within 1e-3.
inline void ExpectLogAssignmentMatches(const std::vector<float>& log_assignment, int64_t n0,
                                       int64_t n1, const cv::FileStorage& fs) {
  const int64_t cols = n1 + 1;
  const cv::Mat top_left = ReadMat(fs, "log_assignment_top_left");
  double worst = 0;
  for (int i = 0; i < top_left.rows; ++i) {
    for (int j = 0; j < top_left.cols; ++j) {
      worst = std::max(worst, std::abs(double(log_assignment[i * cols + j]) -
                                       top_left.at<float>(i, j)));
    }
  }
  EXPECT_LT(worst, 1e-3) << "log assignment top-left block";
  const auto dustbin_row = FloatVector(ReadMat(fs, "dustbin_row"));  // last row, N1 + 1 values
  const auto dustbin_col = FloatVector(ReadMat(fs, "dustbin_col"));  // last column, N0 + 1 values
  ASSERT_EQ(dustbin_row.size(), static_cast<size_t>(n1 + 1));
  ASSERT_EQ(dustbin_col.size(), static_cast<size_t>(n0 + 1));
  for (int64_t j = 0; j <= n1; ++j) {
    EXPECT_NEAR(log_assignment[n0 * cols + j], dustbin_row[j], 1e-3) << "dustbin row " << j;
  }
  for (int64_t i = 0; i <= n0; ++i) {
    EXPECT_NEAR(log_assignment[i * cols + n1], dustbin_col[i], 1e-3) << "dustbin col " << i;
  }
}

// Two runs of a matcher (other thread counts, other weight addresses): the same matches, and
// log-assignment matrices equal up to summation order (1e-4).
template <typename Output>
void ExpectSameOutput(const Output& a, const Output& b) {
  EXPECT_EQ(a.matches.matches0, b.matches.matches0);
  ASSERT_EQ(a.log_assignment.size(), b.log_assignment.size());
  for (size_t k = 0; k < a.log_assignment.size(); ++k) {
    ASSERT_NEAR(a.log_assignment[k], b.log_assignment[k], 1e-4) << k;
  }
}

// Precision / recall of matches0 against ground-truth partners (-1 = none).
struct PrecisionRecall {
  double precision = 0, recall = 0;
  int correct = 0, predicted = 0, positives = 0;
};
inline PrecisionRecall Score(const std::vector<int>& matches0, const std::vector<int>& gt) {
  PrecisionRecall pr;
  for (size_t i = 0; i < gt.size(); ++i) {
    pr.positives += gt[i] >= 0;
    pr.predicted += matches0[i] >= 0;
    pr.correct += matches0[i] >= 0 && matches0[i] == gt[i];
  }
  pr.precision = pr.predicted ? static_cast<double>(pr.correct) / pr.predicted : 0;
  pr.recall = pr.positives ? static_cast<double>(pr.correct) / pr.positives : 0;
  return pr;
}

}  // namespace vigil::glue_testing
