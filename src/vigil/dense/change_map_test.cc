#include "vigil/dense/change_map.h"

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "vigil/dense/dense_test_util.h"
#include "vigil/util/check.h"

namespace vigil::dense {
namespace {

using testing_util::Texture;  // dense_test_util.h

int CountKind(const std::vector<DenseRegion>& regions, const std::string& kind) {
  int n = 0;
  for (const auto& r : regions) n += r.kind == kind;
  return n;
}

// Fraction of the true rectangle covered by the region's mask.
double Coverage(const DenseRegion& region, const cv::Rect& truth) {
  return cv::countNonZero(region.mask(truth)) / static_cast<double>(truth.area());
}

constexpr double kThreshold = 40;  // grey levels: far above the residual of a 1-px shift

TEST(DenseChangeTest, GainOffsetAndOnePixelShiftGiveNoRegion) {
  const cv::Mat reference = Texture({160, 120}, 1);
  cv::Mat query;
  reference.convertTo(query, CV_8U, 0.8, 20);  // gain/offset change
  const cv::Mat shift = (cv::Mat_<double>(2, 3) << 1, 0, 1, 0, 1, 0);
  cv::warpAffine(query, query, shift, query.size(), cv::INTER_LINEAR, cv::BORDER_REFLECT);
  const DenseChangeOptions options;
  const ChangeMap map = ScorePair(query, reference, cv::Mat(), options);
  EXPECT_TRUE(ExtractRegions(map, kThreshold, options).empty());
  double peak = 0;
  cv::minMaxLoc(map.Score(), nullptr, &peak);
  EXPECT_LT(peak, kThreshold);
}

TEST(DenseChangeTest, FlatBlobInQueryIsOneNewRegion) {
  const cv::Mat reference = Texture({160, 120}, 2);
  cv::Mat query = reference.clone();
  const cv::Rect blob(60, 40, 24, 20);
  query(blob).setTo(250);  // textureless: no keypoints, but clearly unexplained
  const DenseChangeOptions options;
  const auto regions = ExtractRegions(ScorePair(query, reference, cv::Mat(), options), kThreshold,
                                      options);
  ASSERT_EQ(regions.size(), 1u);
  EXPECT_EQ(regions[0].kind, "new");
  EXPECT_GT(Coverage(regions[0], blob), 0.7);
  EXPECT_TRUE((regions[0].bbox & blob).area() > 0);
}

TEST(DenseChangeTest, RemovedTexturedPatchIsFound) {
  // Flat background with a textured patch in the reference; the query lacks the patch.
  cv::Mat reference(120, 160, CV_8U, cv::Scalar(128));
  const cv::Rect patch(50, 30, 30, 30);
  cv::Mat tex = Texture(patch.size(), 3);
  cv::normalize(tex, tex, 0, 255, cv::NORM_MINMAX);
  tex.copyTo(reference(patch));
  cv::Mat query(reference.size(), CV_8U, cv::Scalar(128));
  const DenseChangeOptions options;
  const ChangeMap map = ScorePair(query, reference, cv::Mat(), options);
  const auto regions = ExtractRegions(map, kThreshold, options);
  ASSERT_GE(regions.size(), 1u);
  EXPECT_EQ(regions[0].kind, "missing");
  EXPECT_TRUE((regions[0].bbox & patch).area() > 0);
  EXPECT_EQ(CountKind(regions, "new"), 0);
}

TEST(DenseChangeTest, HomographyWarpedReferenceWithBlob) {
  const cv::Mat query_clean = Texture({200, 150}, 4);
  // h maps query pixels to reference pixels; build the reference by sampling the query at h^-1.
  const cv::Mat h = (cv::Mat_<double>(3, 3) << 1.02, 0.03, 6, -0.02, 0.99, -4, 1e-5, 0, 1);
  cv::Mat reference;
  cv::warpPerspective(query_clean, reference, h, query_clean.size(), cv::INTER_LINEAR,
                      cv::BORDER_REFLECT);  // reference(h x) = query(x)
  cv::Mat query = query_clean.clone();
  const cv::Rect blob(90, 70, 22, 22);
  cv::circle(query, {101, 81}, 11, cv::Scalar(10), cv::FILLED);
  const DenseChangeOptions options;
  const ChangeMap map = ScorePair(query, reference, h, options);
  EXPECT_GT(cv::countNonZero(map.valid), query.total() / 2);
  EXPECT_LT(cv::countNonZero(map.valid), static_cast<int>(query.total()));  // border not seen
  const auto regions = ExtractRegions(map, kThreshold, options);
  ASSERT_EQ(regions.size(), 1u);
  EXPECT_EQ(regions[0].kind, "new");
  EXPECT_GT(Coverage(regions[0], cv::Rect(95, 75, 12, 12)), 0.9);
  // The same pair without the homography is misaligned and fires widely.
  const ChangeMap unaligned = ScorePair(query, reference, cv::Mat(), options);
  EXPECT_GT(cv::countNonZero(unaligned.Score() > kThreshold),
            3 * cv::countNonZero(map.Score() > kThreshold));
}

TEST(DenseChangeTest, OpeningDropsOnePixelStripsButKeepsBlobs) {
  // A 1-px wide line is what a misaligned edge leaves; the opening removes it, not the blob.
  const cv::Mat reference(120, 160, CV_8U, cv::Scalar(60));
  cv::Mat query = reference.clone();
  cv::line(query, {20, 20}, {20, 100}, cv::Scalar(250), 1);
  query(cv::Rect(80, 50, 16, 16)).setTo(250);
  DenseChangeOptions options;
  options.blur_sigma = 0;
  options.open_radius = 1;
  const ChangeMap map = ScorePair(query, reference, cv::Mat(), options);
  const auto opened = ExtractRegions(map, kThreshold, options);
  ASSERT_EQ(opened.size(), 1u);
  EXPECT_TRUE((opened[0].bbox & cv::Rect(80, 50, 16, 16)).area() > 0);
  options.open_radius = 0;
  EXPECT_EQ(ExtractRegions(map, kThreshold, options).size(), 2u);
}

TEST(DenseChangeTest, AllInvalidMapHasNoRegions) {
  const cv::Mat image = Texture({80, 60}, 5);
  const cv::Mat far_away = (cv::Mat_<double>(3, 3) << 1, 0, 1000, 0, 1, 1000, 0, 0, 1);
  const DenseChangeOptions options;
  const ChangeMap map = ScorePair(image, image, far_away, options);
  EXPECT_EQ(cv::countNonZero(map.valid), 0);
  EXPECT_EQ(cv::countNonZero(map.Score()), 0);
  EXPECT_TRUE(ExtractRegions(map, 0.0, options).empty());
  EXPECT_TRUE(ExtractRegions(ChangeMap{}, 0.0, options).empty());
}

TEST(DenseChangeTest, BgrAndDifferentSizes) {
  const cv::Mat gray = Texture({120, 90}, 6);
  cv::Mat bgr;
  cv::cvtColor(gray, bgr, cv::COLOR_GRAY2BGR);
  const cv::Mat big_reference = Texture({200, 160}, 7);
  const DenseChangeOptions options;
  const ChangeMap map = ScorePair(bgr, big_reference, cv::Mat(), options);
  EXPECT_EQ(map.new_score.size(), gray.size());
  EXPECT_EQ(map.valid.size(), gray.size());
  const ChangeMap same = ScorePair(bgr, gray, cv::Mat(), options);
  double peak = 0;
  cv::minMaxLoc(same.Score(), nullptr, &peak);
  EXPECT_LT(peak, 1.0);
}

TEST(DenseChangeTest, BadInputsThrow) {
  const DenseChangeOptions options;
  const cv::Mat image = Texture({40, 30}, 8);
  EXPECT_THROW(ScorePair(cv::Mat(), image, cv::Mat(), options), Error);
  EXPECT_THROW(ScorePair(image, cv::Mat(), cv::Mat(), options), Error);
  EXPECT_THROW(ScorePair(image, image, cv::Mat::eye(2, 3, CV_64F), options), Error);
  DenseChangeOptions bad;
  bad.window_radius = -1;
  try {
    bad.Check();
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("window_radius"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("-1"), std::string::npos);
  }
}

TEST(DenseChangeTest, MinOverReferencesTakesMinOverCoveringMaps) {
  ChangeMap a, b;
  a.new_score = (cv::Mat_<float>(1, 3) << 5, 1, 9);
  a.missing_score = (cv::Mat_<float>(1, 3) << 0, 0, 0);
  a.valid = (cv::Mat_<uint8_t>(1, 3) << 255, 255, 0);
  b.new_score = (cv::Mat_<float>(1, 3) << 2, 7, 4);
  b.missing_score = (cv::Mat_<float>(1, 3) << 0, 0, 0);
  b.valid = (cv::Mat_<uint8_t>(1, 3) << 255, 255, 255);
  const ChangeMap m = MinOverReferences({a, b});
  EXPECT_FLOAT_EQ(m.new_score.at<float>(0, 0), 2);
  EXPECT_FLOAT_EQ(m.new_score.at<float>(0, 1), 1);
  EXPECT_FLOAT_EQ(m.new_score.at<float>(0, 2), 4);  // a does not cover it
  EXPECT_EQ(cv::countNonZero(m.valid), 3);
}

TEST(DenseChangeTest, CalibrateThresholdIsQuantileOverValidPixels) {
  // 100 valid pixels with scores 1..100, plus invalid pixels with huge scores that must not count.
  ChangeMap m;
  m.new_score = cv::Mat(1, 110, CV_32F);
  m.missing_score = cv::Mat::zeros(1, 110, CV_32F);
  m.valid = cv::Mat::zeros(1, 110, CV_8U);
  for (int i = 0; i < 110; ++i) {
    m.new_score.at<float>(0, i) = i < 100 ? static_cast<float>(i + 1) : 1e6f;
    if (i < 100) m.valid.at<uint8_t>(0, i) = 255;
  }
  const DenseCalibration cal = CalibrateThreshold({m}, 0.05);
  EXPECT_DOUBLE_EQ(cal.threshold, 95.0);  // 5 of 100 clean pixels (96..100) lie above it
  EXPECT_EQ(cal.num_pixels, 100);
  EXPECT_EQ(cal.num_maps, 1);
  EXPECT_DOUBLE_EQ(CalibrateThreshold({m, m}, 0.5).threshold, 50.0);
  EXPECT_THROW(CalibrateThreshold({m}, 0.0), Error);
}

}  // namespace
}  // namespace vigil::dense
