#include "vigil/inspection/result_io.h"

#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "vigil/util/check.h"

namespace vigil {
namespace {

TEST(ResultIo, RleRoundTripsAndIsColumnMajor) {
  cv::Mat mask = cv::Mat::zeros(3, 4, CV_8U);
  mask.at<uchar>(1, 0) = 255;  // column 0: 0,1,0 -> counts 1,1,...
  mask.at<uchar>(2, 0) = 255;
  mask.at<uchar>(0, 1) = 255;
  const nlohmann::json rle = EncodeMaskRle(mask);
  // Column-major sequence: 0 1 1 | 1 0 0 | 0 0 0 | 0 0 0 -> runs 1 (bg), 3 (fg), 8 (bg).
  EXPECT_EQ(rle["counts"], nlohmann::json({1, 3, 8}));
  EXPECT_EQ(rle["size"], nlohmann::json({3, 4}));
  EXPECT_EQ(cv::countNonZero(DecodeMaskRle(rle) != mask), 0);
}

TEST(ResultIo, RleOfMaskStartingWithForegroundHasLeadingZero) {
  cv::Mat mask(2, 2, CV_8U, cv::Scalar(255));
  EXPECT_EQ(EncodeMaskRle(mask)["counts"], nlohmann::json({0, 4}));
}

TEST(ResultIo, CorruptRleIsRejected) {
  EXPECT_THROW(DecodeMaskRle({{"size", {2, 2}}, {"counts", {1, 9}}}), Error);
  EXPECT_THROW(DecodeMaskRle({{"counts", {4}}}), Error);
}

TEST(ResultIo, OutlineOfRectangleIsItsCorners) {
  cv::Mat mask = cv::Mat::zeros(50, 50, CV_8U);
  mask(cv::Rect(10, 20, 15, 10)).setTo(255);
  const auto outline = MaskOutline(mask);
  ASSERT_EQ(outline.size(), 4u);
  EXPECT_EQ(cv::boundingRect(outline), cv::Rect(10, 20, 15, 10));
}

}  // namespace
}  // namespace vigil
