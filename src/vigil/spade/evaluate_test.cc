#include "vigil/spade/evaluate.h"

#include <cstdio>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "vigil/io/image_io.h"
#include "vigil/spade/pipeline.h"
#include "vigil/spade/spade_test_util.h"
#include "vigil/util/check.h"
#include "vigil/util/testing.h"

namespace vigil::spade {
namespace {
namespace fs = std::filesystem;
using testing::ErrorOf;

TEST(Evaluate, ReadsMvtecLayout) {
  const fs::path brick = testing::DataDir() / "textures" / "brick";
  VIGIL_REQUIRE_FILE(brick);
  const MvtecCategory c = ReadMvtecCategory(brick);
  EXPECT_EQ(c.name, "brick");
  EXPECT_EQ(c.train.size(), 60u);
  EXPECT_TRUE(c.has_ground_truth);
  int good = 0, with_mask = 0;
  for (const MvtecTestImage& t : c.tests) {
    good += t.defect == "good";
    with_mask += !t.mask.empty();
  }
  EXPECT_EQ(good, 20);
  EXPECT_EQ(with_mask, static_cast<int>(c.tests.size()) - 20);
  EXPECT_EQ(FindMvtecCategories(testing::DataDir() / "textures").size(), 2u);
}

// A mask at another resolution of the same picture is resized to its image (nearest-neighbour,
// so the defect keeps its place and stays binary); one of another shape is refused.
TEST(Evaluate, ResizesMaskOfSameShapeRejectsOtherShapeAndEmptyTrainFolder) {
  const fs::path dir = testing::MakeTempDir("eval_bad");
  cv::Mat half = cv::Mat::zeros(100, 150, CV_8U);
  half(cv::Rect(30, 20, 40, 10)).setTo(255);
  io::WriteImage(dir / "half.png", half);
  const cv::Mat full = ReadMask(dir / "half.png", cv::Size(300, 200));
  ASSERT_EQ(full.size(), cv::Size(300, 200));
  EXPECT_EQ(cv::countNonZero(full), 80 * 20);
  EXPECT_EQ(full.at<uint8_t>(40, 60), 255);
  EXPECT_EQ(full.at<uint8_t>(39, 60), 0);
  EXPECT_EQ(cv::countNonZero((full != 0) & (full != 255)), 0);
  io::WriteImage(dir / "mask.png", cv::Mat::zeros(10, 12, CV_8U));
  const std::string e1 = ErrorOf([&] { ReadMask(dir / "mask.png", cv::Size(224, 224)); });
  EXPECT_NE(e1.find("mask.png: mask is 12x10 but its image is 224x224 (another aspect ratio)"),
            std::string::npos)
      << e1;
  fs::create_directories(dir / "cat" / "train" / "good");
  const std::string e2 = ErrorOf([&] { ReadMvtecCategory(dir / "cat"); });
  EXPECT_NE(e2.find("no train images"), std::string::npos) << e2;
}

// A category without ground_truth/ gets image-level metrics only, and every picture is written.
TEST(Evaluate, CategoryWithoutGroundTruthGetsImageMetricsOnly) {
  const fs::path brick = testing::DataDir() / "textures" / "brick";
  const fs::path model = testing::FixturesDir() / "spade" / "resnet18_random_taps.onnx";
  VIGIL_REQUIRE_FILE(brick);
  VIGIL_REQUIRE_FILE(model);
  const fs::path root = testing::MakeTempDir("eval_nogt") / "mini";
  for (const char* sub : {"train/good", "test/good", "test/hole"})
    fs::create_directories(root / sub);
  for (int i = 0; i < 4; ++i) {
    const std::string name = fmt::format("{:03d}.png", i);
    fs::copy_file(brick / "train" / "good" / name, root / "train" / "good" / name);
  }
  for (const char* name : {"002.png", "005.png"}) {
    fs::copy_file(brick / "test" / "good" / name, root / "test" / "good" / name);
  }
  for (const char* name : {"000.png", "003.png"}) {
    fs::copy_file(brick / "test" / "hole" / name, root / "test" / "hole" / name);
  }
  BackboneOptions options = BackbonePreset("resnet");
  options.model = model.string();
  Backbone backbone(options);
  AnomalyDetectorOptions detector;
  detector.spade.k = 2;
  EvalOptions eval;
  eval.out_dir = root.parent_path() / "out";
  eval.show_progress = false;
  const CategoryMetrics m =
      EvaluateCategory(ReadMvtecCategory(root), backbone, detector, eval, nullptr);
  EXPECT_TRUE(std::isfinite(m.image_auroc));
  EXPECT_GE(m.image_auroc, 0.0);
  EXPECT_LE(m.image_auroc, 1.0);
  EXPECT_TRUE(std::isnan(m.pixel_auroc));
  EXPECT_TRUE(std::isnan(m.aupro));
  ASSERT_EQ(m.by_defect.count("hole"), 1u);
  EXPECT_EQ(m.by_defect.at("hole").images, 2);
  const nlohmann::json j = MetricsToJson(m);
  EXPECT_TRUE(j["pixel_auroc"].is_null());
  EXPECT_TRUE(j["image_auroc"].is_number());
  EXPECT_TRUE(fs::exists(eval.out_dir / "mini" / "index.html"));
  EXPECT_TRUE(fs::exists(eval.out_dir / "mini" / "roc.png"));
  EXPECT_TRUE(fs::exists(eval.out_dir / "mini" / "overlays" / "hole" / "003.png"));
}

using testing_util::Texture;  // spade_test_util.h

// An MVTec-style category whose images are 300x200, 200x300 and 256x256 (one mask saved at half
// resolution) evaluates with no resizing by hand: the maps are compared with the masks at each
// image's own size, and the bright discs are found (pixel AUROC near 1, defect images ranked
// above clean ones).
TEST(Evaluate, MixedSizeCategoryWithMasksAtOriginalSize) {
  const fs::path model = testing::FixturesDir() / "spade" / "resnet18_random_taps.onnx";
  VIGIL_REQUIRE_FILE(model);
  const fs::path root = testing::MakeTempDir("eval_mixed") / "mixed";
  for (const char* sub : {"train/good", "test/good", "test/disc", "ground_truth/disc"})
    fs::create_directories(root / sub);
  const std::vector<cv::Size> sizes = {{300, 200}, {200, 300}, {256, 256}};
  for (size_t i = 0; i < 6; ++i) {
    io::WriteImage(root / "train" / "good" / fmt::format("{:03d}.png", i),
                   Texture(sizes[i % 3], i + 1));
  }
  for (size_t i = 0; i < 3; ++i) {
    const cv::Size size = sizes[i];
    io::WriteImage(root / "test" / "good" / fmt::format("{:03d}.png", i), Texture(size, 100 + i));
    cv::Mat image = Texture(size, 200 + i), mask = cv::Mat::zeros(size, CV_8U);
    const cv::Point centre(size.width * (i + 1) / 4, size.height * (3 - i) / 4);
    cv::circle(image, centre, 16, cv::Scalar::all(255), cv::FILLED);
    cv::circle(mask, centre, 16, cv::Scalar(255), cv::FILLED);
    if (i == 0) cv::resize(mask, mask, size / 2, 0, 0, cv::INTER_NEAREST);
    io::WriteImage(root / "test" / "disc" / fmt::format("{:03d}.png", i), image);
    io::WriteImage(root / "ground_truth" / "disc" / fmt::format("{:03d}_mask.png", i), mask);
  }
  BackboneOptions options = BackbonePreset("resnet");
  options.model = model.string();
  Backbone backbone(options);
  AnomalyDetectorOptions detector;
  detector.method = "patchcore";
  detector.patchcore.coreset_ratio = 0.25;
  EvalOptions eval;
  eval.out_dir = root.parent_path() / "out";
  eval.show_progress = false;
  const CategoryMetrics m =
      EvaluateCategory(ReadMvtecCategory(root), backbone, detector, eval, nullptr);
  std::printf("mixed sizes: image AUROC %.3f, pixel AUROC %.4f, AUPRO %.3f\n", m.image_auroc,
              m.pixel_auroc, m.aupro);
  EXPECT_EQ(m.image_auroc, 1.0);
  EXPECT_GT(m.pixel_auroc, 0.95);
  EXPECT_TRUE(std::isfinite(m.aupro));
  // Overlays are drawn at each image's own size.
  const cv::Mat overlay = io::ReadImage(eval.out_dir / "mixed" / "overlays" / "disc" / "001.png");
  EXPECT_EQ(overlay.size(), cv::Size(200, 300));
}

TEST(Evaluate, OverlayDrawsMaskOutline) {
  cv::Mat image(40, 60, CV_8UC3, cv::Scalar(0, 0, 0));
  cv::Mat map = cv::Mat::zeros(20, 20, CV_32F);
  cv::Mat mask = cv::Mat::zeros(40, 60, CV_8U);
  cv::rectangle(mask, cv::Rect(10, 10, 20, 15), cv::Scalar(255), cv::FILLED);
  const cv::Mat overlay = MakeOverlay(image, map, 0.f, 1.f, mask);
  ASSERT_EQ(overlay.size(), image.size());
  EXPECT_EQ(overlay.at<cv::Vec3b>(10, 20), cv::Vec3b(0, 255, 0));  // on the outline
  EXPECT_NE(overlay.at<cv::Vec3b>(35, 50), cv::Vec3b(0, 255, 0));  // far from it
}

}  // namespace
}  // namespace vigil::spade
