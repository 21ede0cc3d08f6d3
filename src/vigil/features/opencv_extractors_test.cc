#include "vigil/features/opencv_extractors.h"

#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "vigil/io/image_io.h"
#include "vigil/matching/nearest_neighbor.h"
#include "vigil/util/check.h"
#include "vigil/util/testing.h"

namespace vigil {
namespace {

// Fraction of matches whose displacement equals the known shift within `tolerance` px.
double FractionWithinShift(const Features& f0, const Features& f1, const Matches& m,
                           Eigen::Vector2f shift, float tolerance) {
  int good = 0, total = 0;
  for (int i = 0; i < f0.size(); ++i) {
    const int j = m.matches0[i];
    if (j < 0) continue;
    ++total;
    const Eigen::Vector2f d = f1.keypoints.row(j).transpose() - f0.keypoints.row(i).transpose();
    good += (d - shift).norm() <= tolerance;
  }
  return total == 0 ? 0.0 : static_cast<double>(good) / total;
}

class OpenCvExtractorTest : public ::testing::TestWithParam<std::string> {};

// freiburg0s is freiburg0 shifted by (+13, +7) px (fixtures/README.md): every extractor with
// mutual NN must recover that shift for nearly all of its matches.
TEST_P(OpenCvExtractorTest, MutualNnRecoversKnownShift) {
  const auto images = testing::FixturesDir() / "images";
  VIGIL_REQUIRE_FILE(images / "freiburg0.png");
  FeatureExtractorOptions options;
  options.type = GetParam();
  auto extractor = FeatureExtractor::Create(options);
  const Features f0 = extractor->Extract(io::ReadImage(images / "freiburg0.png"));
  const Features f1 = extractor->Extract(io::ReadImage(images / "freiburg0s.png"));
  ASSERT_GT(f0.size(), 100);
  const Matches m = MatchNearestNeighbors(f0, f1, {});
  EXPECT_GT(m.num_matches(), 50);
  EXPECT_GE(FractionWithinShift(f0, f1, m, {13.f, 7.f}, 3.f), 0.95);
}

TEST_P(OpenCvExtractorTest, BlankImageGivesNoKeypointsAndNoCrash) {
  FeatureExtractorOptions options;
  options.type = GetParam();
  auto extractor = FeatureExtractor::Create(options);
  const Features f = extractor->Extract(cv::Mat(120, 160, CV_8UC3, cv::Scalar::all(128)));
  EXPECT_EQ(f.size(), 0);
  EXPECT_EQ(f.image_width, 160);
  const Matches m = MatchNearestNeighbors(f, f, {});
  EXPECT_EQ(m.num_matches(), 0);
}

INSTANTIATE_TEST_SUITE_P(SiftAndOrb, OpenCvExtractorTest, ::testing::Values("sift", "orb"));

TEST(Sift, RootSiftDescriptorsAreUnitLength) {
  cv::Mat image(200, 200, CV_8UC1, cv::Scalar(0));
  cv::circle(image, {60, 60}, 20, cv::Scalar(255), -1);
  cv::rectangle(image, {120, 110}, {170, 170}, cv::Scalar(180), -1);
  FeatureExtractorOptions options;
  options.type = "sift";
  const Features f = FeatureExtractor::Create(options)->Extract(image);
  ASSERT_GT(f.size(), 0);
  for (int i = 0; i < f.size(); ++i) EXPECT_NEAR(f.descriptors.row(i).norm(), 1.0f, 1e-4f);
}

TEST(FeatureExtractor, UnknownTypeListsKnownOnes) {
  FeatureExtractorOptions options;
  options.type = "surf";
  try {
    FeatureExtractor::Create(options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sift"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vigil
