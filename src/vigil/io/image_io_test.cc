#include "vigil/io/image_io.h"

#include <gtest/gtest.h>

#include "vigil/util/check.h"
#include "vigil/util/file_util.h"
#include "vigil/util/testing.h"

namespace vigil::io {
namespace {

TEST(ImageIo, WritesAndReadsPng) {
  const auto dir = testing::MakeTempDir("image_io");
  cv::Mat image(4, 6, CV_8UC3, cv::Scalar(10, 20, 30));
  WriteImage(dir / "a.png", image);
  const cv::Mat read = ReadImage(dir / "a.png");
  EXPECT_EQ(cv::norm(read, image, cv::NORM_INF), 0.0);
  EXPECT_EQ(ReadImage(dir / "a.png", ImageMode::kGray).channels(), 1);
}

TEST(ImageIo, MissingAndCorruptFilesAreNamed) {
  const auto dir = testing::MakeTempDir("image_io");
  try {
    ReadImage(dir / "missing.png");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.png"), std::string::npos);
  }
  WriteTextFileAtomically(dir / "corrupt.png", "\x89PNG\r\n\x1a\nthis is not really a png");
  EXPECT_THROW(ReadImage(dir / "corrupt.png"), Error);
}

TEST(ImageIo, TruncatedJpegIsRefusedNotFilledWithGrey) {
  const auto dir = testing::MakeTempDir("image_io");
  cv::Mat image(64, 64, CV_8UC3);
  cv::randu(image, 0, 255);
  WriteImage(dir / "full.jpg", image);
  const std::string bytes = ReadFileToString(dir / "full.jpg");
  EXPECT_EQ(ReadImage(dir / "full.jpg").size(), image.size());
  // libjpeg decodes the first half and greys the rest, with only a warning on stderr.
  WriteTextFileAtomically(dir / "cut.jpg", bytes.substr(0, bytes.size() / 2));
  try {
    ReadImage(dir / "cut.jpg");
    FAIL() << "a truncated JPEG was decoded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cut.jpg"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("truncated JPEG"), std::string::npos) << e.what();
  }
}

TEST(ImageIo, ResizeIsInterLinearAsTheOfficialDemo) {
  // 6 -> 2 pixels: INTER_LINEAR samples source x = (x + 0.5) * 3 - 0.5 = 1 and 4 exactly,
  // INTER_AREA would average each group of three (30 and 153).
  cv::Mat row = (cv::Mat_<uint8_t>(1, 6) << 0, 30, 60, 90, 120, 250);
  const cv::Mat resized = ResizeForInference(row, 2, 1);
  ASSERT_EQ(resized.size(), cv::Size(2, 1));
  EXPECT_EQ(resized.at<uint8_t>(0, 0), 30);
  EXPECT_EQ(resized.at<uint8_t>(0, 1), 120);
}

TEST(ImageIo, ListsImagesSortedAndSkipsOtherFiles) {
  const auto dir = testing::MakeTempDir("image_io");
  cv::Mat image(2, 2, CV_8UC1, cv::Scalar(0));
  WriteImage(dir / "b.png", image);
  WriteImage(dir / "a.JPG", image);
  WriteTextFileAtomically(dir / "poses.csv", "x");
  const auto images = ListImages(dir);
  ASSERT_EQ(images.size(), 2u);
  EXPECT_EQ(images[0].filename(), "a.JPG");
  EXPECT_EQ(images[1].filename(), "b.png");
  EXPECT_THROW(ListImages(dir / "nope"), Error);
}

}  // namespace
}  // namespace vigil::io
