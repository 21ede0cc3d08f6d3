#include "vigil/report/draw.h"

#include <gtest/gtest.h>

namespace vigil::report {
namespace {

TEST(Draw, ConfidenceColorGoesFromRedThroughYellowToGreen) {
  EXPECT_EQ(ConfidenceColor(0.f), cv::Scalar(0, 0, 255));
  EXPECT_EQ(ConfidenceColor(0.5f), cv::Scalar(0, 255, 255));
  EXPECT_EQ(ConfidenceColor(1.f), cv::Scalar(0, 255, 0));
  EXPECT_EQ(ConfidenceColor(7.f), ConfidenceColor(1.f));  // clamped
}

TEST(Draw, MatchCanvasHoldsBothImagesAndDrawsTheMatchLine) {
  const cv::Mat a(40, 50, CV_8UC1, cv::Scalar(0)), b(60, 30, CV_8UC3, cv::Scalar(0, 0, 0));
  Features f0, f1;
  f0.keypoints.resize(1, 2);
  f0.keypoints << 10.f, 30.f;
  f1.keypoints.resize(1, 2);
  f1.keypoints << 20.f, 30.f;
  f0.scores = f1.scores = Eigen::VectorXf::Ones(1);
  Matches m;
  m.matches0 = {0};
  m.confidence0 = {1.f};
  const cv::Mat canvas = DrawMatches(a, b, f0, f1, m);
  EXPECT_EQ(canvas.rows, 60);
  EXPECT_EQ(canvas.cols, 50 + 10 + 30);
  // A pixel in the middle of the line (between x=10 and x=80 on row 30) is green.
  const cv::Vec3b mid = canvas.at<cv::Vec3b>(30, 45);
  EXPECT_GT(mid[1], 200);
  EXPECT_LT(mid[2], 80);
}

}  // namespace
}  // namespace vigil::report
